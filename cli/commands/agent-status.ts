// The node's own word about its agent (nodes/<node>/status/agent/state.json): the version it
// runs, the trust set it holds, a trust set it refused, and its last upgrade. `berth status`
// prints it under the environment, marked unsigned: unlike the environments' statuses, the agent
// does not sign this file yet.
import { channelKeys } from "../../contract/channel/layout";
import type { ChannelStore } from "../../contract/channel/store";
import { type AgentStatus, agentStatusSchema } from "../../contract/trust";

export async function readAgentStatus(channel: ChannelStore, node: string): Promise<AgentStatus | undefined> {
  const text = await channel.get(channelKeys.agentStatus(node));
  if (text === undefined) return undefined;
  try {
    const r = agentStatusSchema.safeParse(JSON.parse(text));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

export function formatAgentStatus(s: AgentStatus): string {
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
  // Not signed yet (the environments' statuses are): say so rather than print it as the node's word.
  lines.push(
    "    (unsigned: status/agent/state.json as the channel holds it; whoever writes the channel can change it)",
  );
  return lines.join("\n");
}
