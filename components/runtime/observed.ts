// What `pulumi refresh` learns about a Release from the node's signed status: is the environment
// running the release the state says it should, and is the node still heartbeating? Pure; the
// Release provider's `read` feeds it the verified status and the time.
import { silentAfterSeconds } from "../../contract/channel/status-heartbeat";
import type { StatusCheck } from "../../contract/channel/status-signature";

export interface Observed {
  /** The node runs the state's release and has heartbeated recently. */
  running: boolean;
  /** Why not, or what runs: one line for the preview and the operator. */
  detail: string;
  appliedSequence?: number;
  /** The node's last heartbeat (ISO time), from its signed status. */
  lastSeen?: string;
  agentVersion?: string;
}

export { silentAfterSeconds };

export function observe(
  check: StatusCheck | undefined,
  o: { nodeId: string; environmentId: string; sequence: number; now: Date },
): Observed {
  const where = `${o.environmentId} on ${o.nodeId}`;
  if (check === undefined)
    return { running: false, detail: `${where}: the node has written no status for the environment` };
  if (!check.ok)
    return {
      running: false,
      detail: `${where}: the status in the channel does not verify against the node's pinned status key (${check.reason})`,
    };
  const s = check.status;
  const seen = s.heartbeat ? { lastSeen: s.heartbeat.at, agentVersion: s.heartbeat.agentVersion } : {};
  const applied = s.appliedSequence !== undefined ? { appliedSequence: s.appliedSequence } : {};
  if (s.heartbeat) {
    const silent = (o.now.getTime() - Date.parse(s.heartbeat.at)) / 1000;
    if (!(silent <= silentAfterSeconds(s.heartbeat.intervalSeconds)))
      return {
        running: false,
        detail: `${where}: the node has been silent for ${Math.round(silent)} s (last heartbeat ${s.heartbeat.at}, expected every ${s.heartbeat.intervalSeconds} s)`,
        ...seen,
        ...applied,
      };
  }
  if (s.state === "removed")
    return { running: false, detail: `${where}: the node took the environment down`, ...seen };
  if (s.appliedSequence !== o.sequence)
    return {
      running: false,
      detail: `${where}: the node runs release ${s.appliedSequence ?? "none"}, not release ${o.sequence} (${s.state}${s.error ? `: ${s.error}` : ""})`,
      ...seen,
      ...applied,
    };
  return { running: true, detail: `${where}: running release ${o.sequence}`, ...seen, ...applied };
}
