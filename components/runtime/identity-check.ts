// The one rule for a node's identity in the channel against the keys the program's state holds:
// the same keys → nothing to do; keys an operator accepted → take them; a document without the
// node's MAC, or new keys nobody accepted → refused, naming the node and what accepts a real change.
import {
  acceptanceIdOf,
  describeKeys,
  IdentityError,
  type NodeKeys,
  verifyIdentity,
} from "../../contract/channel/node-identity";

export type IdentityVerdict =
  | { kind: "same" }
  | { kind: "accepted"; keys: NodeKeys }
  | { kind: "new"; keys: NodeKeys };

/** The command that accepts a node's new keys. */
export function acceptCommand(nodeId: string, keys: NodeKeys): string {
  return `pulumi config set --path 'berth:acceptNodeKeys.${nodeId}' ${acceptanceIdOf(keys)} && pulumi up`;
}

/**
 * Compares the identity document `text` with the pinned keys. Throws (the preview's refusal) when
 * the MAC does not verify. Returns "new" for valid new keys nobody accepted: the caller decides
 * whether the program itself made the node anew, or refuses with refusedNewKeys().
 */
export function compareIdentity(
  text: string,
  o: { nodeId: string; pinned: NodeKeys; enrollmentSecret: string; acceptKey?: string; replaceHint: string },
): IdentityVerdict {
  let id: NodeKeys;
  try {
    id = verifyIdentity(text, o.nodeId, o.enrollmentSecret);
  } catch (e) {
    if (!(e instanceof IdentityError)) throw e;
    throw new Error(
      `node ${o.nodeId}: refused: ${e.message}. Someone who can write the release channel replaced it; the program seals only to the keys in its state (${describeKeys(o.pinned)}) and seals nothing to the one in the channel. The node writes its identity again when its agent starts; ${o.replaceHint}`,
    );
  }
  const keys = { publicKey: id.publicKey, statusKey: id.statusKey };
  if (keys.publicKey === o.pinned.publicKey && keys.statusKey === o.pinned.statusKey) return { kind: "same" };
  if (o.acceptKey === acceptanceIdOf(keys)) return { kind: "accepted", keys };
  return { kind: "new", keys };
}

export function refusedNewKeys(nodeId: string, keys: NodeKeys, pinned: NodeKeys, replaceHint: string): Error {
  return new Error(
    `node ${nodeId}: refused: its identity in the channel carries keys the program did not take (${describeKeys(keys)}; the state holds ${describeKeys(pinned)}). Nothing is sealed to them. If you reset the node on purpose, accept them: ${acceptCommand(nodeId, keys)}; ${replaceHint}`,
  );
}
