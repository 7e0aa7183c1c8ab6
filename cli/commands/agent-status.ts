// The node's own word about its agent (nodes/<node>/status/agent/state.json): the version it
// runs, the trust set it holds, a trust set it refused, and its last upgrade. The agent signs it
// with the node's status key, like the environments' statuses; `berth status` checks it against
// the same key (status-key.ts: the one the stack's state pins) and prints it only when it
// verifies. A forged or unsigned one is ignored, and said so.
import { channelKeys } from "../../contract/channel/layout";
import type { ChannelStore } from "../../contract/channel/store";
import { keyIdOf } from "../../contract/payload";
import { type AgentStatus, verifyAgentStatus } from "../../contract/trust";
import type { StatusKey } from "./status-key";

export type AgentStatusRead =
  | { ok: true; status: AgentStatus; detail: string }
  | { ok: false; detail: string };

/** The agent's status, checked against `k`; undefined when the node wrote none. */
export async function readAgentStatus(
  channel: ChannelStore,
  node: string,
  k: StatusKey,
): Promise<AgentStatusRead | undefined> {
  const text = await channel.get(channelKeys.agentStatus(node));
  if (text === undefined) return undefined;
  if (!k.key)
    return { ok: false, detail: `no status key: the node published none at ${channelKeys.identity(node)}` };
  const check = verifyAgentStatus(text, { statusKey: k.key, nodeId: node });
  if (!check.ok) return { ok: false, detail: `${check.reason} (key: ${k.whose})` };
  let id = k.key;
  try {
    id = keyIdOf(k.key);
  } catch {
    // shown as given
  }
  return { ok: true, status: check.status, detail: `verified with ${id} (${k.whose})` };
}

export function formatAgentStatus(r: AgentStatusRead): string {
  if (!r.ok) return `  agent: NOT VERIFIED, ignored: status/agent/state.json: ${r.detail}`;
  const s = r.status;
  const t = s.trust;
  const lines = [
    `  agent ${s.agentVersion} (updated ${s.updatedAt}): trust generation ${t.generation}, release keys ${t.releaseKeyIds.join(", ") || "none"}${t.revoked.length > 0 ? `, revoked ${t.revoked.join(", ")}` : ""}${t.expiresAt ? `, trust set expires ${t.expiresAt}` : ""}`,
  ];
  if (t.refused) lines.push(`    trust set REFUSED at ${t.refused.at}: ${t.refused.reason}`);
  const u = s.upgrade;
  if (u)
    lines.push(
      `    last agent upgrade: ${u.state} ${u.from} → ${u.version} at ${u.at}${u.reason ? `: ${u.reason}` : ""}`,
    );
  const l = s.lazyPull;
  if (l)
    lines.push(
      l.lazyPull === "off"
        ? `    lazy pulling OFF (workspace images pull in full): ${l.reason ?? "no reason given"}`
        : `    lazy pulling ${l.lazyPull}: stargz tools build ${l.build ?? "?"} (${l.arch ?? "?"})`,
    );
  lines.push(`    agent status signature: ${r.detail}`);
  return lines.join("\n");
}
