// A document the swarm's leader signs with its status key for the group's members: a route table
// (routes.ts), a backup order (backups.ts). One envelope for each kind,
// `{ formatVersion: 1, keyId, signature, <field>: document }`, the Ed25519 signature over the
// canonical bytes of `{ domain, <field>: document }`, so a document of one kind never verifies as
// another. A member verifies it against the leader's status key the membership pins, for its own
// group and environment, and not below the floor of what it has acted on.
import { sign, verify } from "node:crypto";
import * as z from "zod";
import { canonicalBytes, canonicalJson } from "../payload/canonical";
import { fromBase64Url, toBase64Url } from "../payload/encoding";
import { type KeyInput, keyIdOf, loadSigningPrivateKey, loadSigningPublicKey } from "../payload/keys";

/** Where a document stands in the order a node acts on: (sequence, withdrawn). */
export interface RouteFloor {
  sequence: number;
  withdrawn: boolean;
}

/** `a` is below `b`: an older release, or the same release before its withdrawal. */
export function belowFloor(a: RouteFloor, b: RouteFloor): boolean {
  return a.sequence < b.sequence || (a.sequence === b.sequence && !a.withdrawn && b.withdrawn);
}

/** What every leader-signed document says of itself. */
interface LeaderDocument extends RouteFloor {
  group: string;
  environmentId: string;
}

/** One kind of leader-signed document. */
export interface LeaderDocumentKind<T extends LeaderDocument> {
  /** The signature's domain, also the document's own `domain` field. */
  domain: string;
  /** The envelope's field that holds the document ("table", "order"). */
  field: string;
  /** Its name in errors ("route table"). */
  what: string;
  maxBytes: number;
  schema: z.ZodType<T>;
  error: new (message: string) => Error;
}

function envelopeSchema(field: string) {
  return z
    .object({
      formatVersion: z.literal(1),
      keyId: z.string().regex(/^ed25519:[0-9a-f]{32}$/),
      signature: z.string().min(1),
      [field]: z.unknown(),
    })
    .strict();
}

/** The document's text, checked against its schema and signed by the leader's status key. */
export function signLeaderDocument<T extends LeaderDocument>(
  kind: LeaderDocumentKind<T>,
  document: unknown,
  leaderStatusKey: KeyInput,
): string {
  const doc = kind.schema.parse(document);
  const key = loadSigningPrivateKey(leaderStatusKey);
  const signature = sign(null, canonicalBytes({ domain: kind.domain, [kind.field]: doc }), key);
  return `${canonicalJson({ formatVersion: 1, keyId: keyIdOf(key), signature: toBase64Url(signature), [kind.field]: doc })}\n`;
}

/**
 * Verifies a document against the leader's pinned status key and what the node expects: the group,
 * the environment, not below the floor. Throws the kind's error with the reason.
 */
export function verifyLeaderDocument<T extends LeaderDocument>(
  kind: LeaderDocumentKind<T>,
  text: string,
  expect: { group: string; environmentId: string; leaderStatusKey: KeyInput; floor?: RouteFloor },
): T {
  const refuse = (why: string) =>
    new kind.error(`${kind.what} of ${expect.environmentId} in group ${expect.group}: ${why}`);
  if (Buffer.byteLength(text, "utf8") > kind.maxBytes)
    throw refuse(`larger than ${kind.maxBytes} bytes, not read`);
  let envelope: Record<string, unknown> & { keyId: string; signature: string };
  try {
    envelope = envelopeSchema(kind.field).parse(JSON.parse(text)) as typeof envelope;
  } catch {
    throw refuse(`not a signed ${kind.what}`);
  }
  const key = loadSigningPublicKey(expect.leaderStatusKey);
  if (envelope.keyId !== keyIdOf(key))
    throw refuse(`signed by ${envelope.keyId}, not by the leader's key ${keyIdOf(key)}`);
  const signature = fromBase64Url(envelope.signature);
  const signed = canonicalBytes({ domain: kind.domain, [kind.field]: envelope[kind.field] });
  if (!signature || !verify(null, signed, key, signature))
    throw refuse("the signature does not verify with the leader's key");
  const parsed = kind.schema.safeParse(envelope[kind.field]);
  if (!parsed.success) throw refuse(`malformed (${parsed.error.issues[0]?.message ?? "?"})`);
  const d = parsed.data;
  if (d.group !== expect.group || d.environmentId !== expect.environmentId)
    throw refuse(`the ${kind.field} is ${d.environmentId}'s in group ${d.group}`);
  if (expect.floor && belowFloor(d, expect.floor))
    throw refuse(
      `release ${d.sequence}${d.withdrawn ? " (withdrawn)" : ""} is below release ${expect.floor.sequence}${expect.floor.withdrawn ? " (withdrawn)" : ""}, which this node has acted on`,
    );
  return d;
}
