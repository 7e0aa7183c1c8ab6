// Which key a node's statuses must be signed with, for `berth status` and `berth releases`, and
// the check itself. The key the program pinned comes first: --status-key, else the node
// resource's statusKey in the stack's state (LocalNode or NodeIdentity; what `pulumi up`
// believes). Only without a stack (--channel alone) is the node's published identity.json used,
// and the output says that whoever writes the channel can replace that one.
import { channelKeys } from "../../contract/channel/layout";
import { verifyStatus } from "../../contract/channel/status-signature";
import type { ChannelStore } from "../../contract/channel/store";
import { keyIdOf } from "../../contract/payload";
import { stackOf, stackState } from "./stack";

/** The node resources whose outputs hold the keys the program took. */
const NODE_KINDS = new Set(["local-node", "node-identity"]);

/** The status key a stack's state (`pulumi stack export`) pins for `node`, if it has one. */
export function pinnedStatusKey(exported: unknown, node: string): string | undefined {
  const resources = (exported as { deployment?: { resources?: unknown[] } } | undefined)?.deployment
    ?.resources;
  for (const r of Array.isArray(resources) ? resources : []) {
    const o = (r as { outputs?: Record<string, unknown> }).outputs;
    if (
      o &&
      NODE_KINDS.has(o.berthKind as string) &&
      o.nodeId === node &&
      typeof o.statusKey === "string" &&
      o.statusKey !== ""
    )
      return o.statusKey;
  }
  return undefined;
}

export interface StatusKey {
  key?: string;
  /** Where the key came from, for the output. */
  whose: string;
}

/** --status-key; else the stack's pinned key (when the channel is the stack's, or --stack is given); else the published one. */
export async function statusKeyOf(
  values: Record<string, unknown>,
  channel: ChannelStore,
  node: string,
): Promise<StatusKey> {
  const given = values["status-key"] as string | undefined;
  if (given) return { key: given, whose: "given with --status-key" };
  if (!values.channel || values.stack) {
    const stack = await stackOf(values);
    const key = pinnedStatusKey(await stackState(stack), node);
    if (key) return { key, whose: `pinned in stack ${stack}'s state` };
  }
  let key: string | undefined;
  try {
    key = (JSON.parse((await channel.get(channelKeys.identity(node))) ?? "{}") as { statusKey?: string })
      .statusKey;
  } catch {
    key = undefined;
  }
  return {
    ...(key ? { key } : {}),
    whose:
      "the key the node published in the channel, which whoever writes the channel can replace: name the stack (--stack) or pin the key (--status-key)",
  };
}

/** The status text's signature against `k`: "verified with <key id> (<whose>)", or why not. */
export function checkStatusSignature(
  text: string,
  node: string,
  env: string,
  k: StatusKey,
): { ok: boolean; detail: string } {
  if (!k.key)
    return { ok: false, detail: `no status key: the node published none at ${channelKeys.identity(node)}` };
  const check = verifyStatus(text, { statusKey: k.key, nodeId: node, environmentId: env });
  if (!check.ok) return { ok: false, detail: `${check.reason} (key: ${k.whose})` };
  let id = k.key;
  try {
    id = keyIdOf(k.key);
  } catch {
    // shown as given
  }
  return { ok: true, detail: `verified with ${id} (${k.whose})` };
}
