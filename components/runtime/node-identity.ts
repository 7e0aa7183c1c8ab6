// The NodeIdentity dynamic resource of a cloud node (DeploymentNode): on first contact it waits
// for nodes/<node>/identity.json with the MAC of the node's enrollment secret and keeps its keys
// in the state (outputs publicKey, statusKey). A new server (serverId) replaces it, so a replaced
// node's new keys are taken; any other change of the identity in the channel is refused at
// preview (diff), unless an operator accepted those keys (berth:acceptNodeKeys.<node>).
import type * as pulumi from "@pulumi/pulumi";
import type { ChannelSpec } from "../../contract/channel/access";
import { channelKeys } from "../../contract/channel/layout";
import { IdentityError, type NodeKeys, verifyIdentity } from "../../contract/channel/node-identity";
import { openChannel } from "./channel";
import { compareIdentity, refusedNewKeys } from "./identity-check";

export interface NodeIdentityInputs {
  berthKind: "node-identity";
  berthProviderVersion: string;
  nodeId: string;
  /** The machine: a new server is a new node, whose keys are taken afresh. */
  serverId: string;
  channel: ChannelSpec;
  enrollmentSecret: string;
  acceptKey?: string;
  /** How long the first contact may take (a server's boot and agent install). */
  timeoutSeconds: number;
}

export interface NodeIdentityOutputs extends NodeIdentityInputs, NodeKeys {}

const replaceHint = (nodeId: string) =>
  `if the machine itself is not to be trusted, replace it: pulumi up --replace on node ${nodeId}'s server (pulumi stack --show-urns names it)`;

/** Waits for an identity document that verifies and returns its keys. */
export async function firstContact(i: NodeIdentityInputs, pollMs = 2000): Promise<NodeKeys> {
  const channel = openChannel(i.channel);
  const deadline = Date.now() + i.timeoutSeconds * 1000;
  let refused = "";
  while (Date.now() < deadline) {
    const text = await channel.get(channelKeys.identity(i.nodeId));
    if (text !== undefined) {
      try {
        const id = verifyIdentity(text, i.nodeId, i.enrollmentSecret);
        return { publicKey: id.publicKey, statusKey: id.statusKey };
      } catch (e) {
        if (!(e instanceof IdentityError)) throw e;
        refused = e.message;
      }
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
  throw new Error(
    `node ${i.nodeId} did not publish an identity the program accepts to ${channel.url} within ${i.timeoutSeconds} s${refused ? ` (refused: ${refused})` : " (none yet: is the server up and its agent installed? see its cloud-init log)"}`,
  );
}

export async function create(news: NodeIdentityInputs): Promise<pulumi.dynamic.CreateResult> {
  return { id: news.nodeId, outs: { ...news, ...(await firstContact(news)) } };
}

async function verdictOf(olds: NodeIdentityOutputs, news: NodeIdentityInputs) {
  const text = await openChannel(olds.channel).get(channelKeys.identity(olds.nodeId));
  if (text === undefined) return { kind: "same" as const };
  return compareIdentity(text, {
    nodeId: olds.nodeId,
    pinned: { publicKey: olds.publicKey, statusKey: olds.statusKey },
    enrollmentSecret: olds.enrollmentSecret,
    ...(news.acceptKey ? { acceptKey: news.acceptKey } : {}),
    replaceHint: replaceHint(olds.nodeId),
  });
}

export async function diff(
  _id: string,
  olds: NodeIdentityOutputs,
  news: NodeIdentityInputs,
): Promise<pulumi.dynamic.DiffResult> {
  const replaces = (["nodeId", "serverId"] as const).filter((k) => olds[k] !== news[k]);
  if (replaces.length > 0) return { changes: true, replaces, deleteBeforeReplace: false };
  const v = await verdictOf(olds, news);
  if (v.kind === "new")
    throw refusedNewKeys(
      olds.nodeId,
      v.keys,
      { publicKey: olds.publicKey, statusKey: olds.statusKey },
      replaceHint(olds.nodeId),
    );
  return { changes: v.kind === "accepted", replaces: [] };
}

export async function update(
  _id: string,
  olds: NodeIdentityOutputs,
  news: NodeIdentityInputs,
): Promise<pulumi.dynamic.UpdateResult> {
  const v = await verdictOf(olds, news);
  if (v.kind === "new")
    throw refusedNewKeys(
      olds.nodeId,
      v.keys,
      { publicKey: olds.publicKey, statusKey: olds.statusKey },
      replaceHint(olds.nodeId),
    );
  // The enrollment secret stays the one the node was given at creation.
  const keys = v.kind === "accepted" ? v.keys : { publicKey: olds.publicKey, statusKey: olds.statusKey };
  return { outs: { ...news, enrollmentSecret: olds.enrollmentSecret, ...keys } };
}

export async function read(id: string, props: NodeIdentityOutputs): Promise<pulumi.dynamic.ReadResult> {
  return { id, props };
}

export async function remove(): Promise<void> {
  // Nothing to undo: the node's identity goes with its server.
}
