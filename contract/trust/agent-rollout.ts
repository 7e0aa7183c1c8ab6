// Whether a node has taken the agent bundle the program published, read from its signed agent
// status (agent-status.ts), already verified against the node's pinned status key: nothing here
// looks at a status that was not. Pure: the waiting is components/runtime/agent-rollout.ts.
import type { AgentStatus } from "./agent-status";

/** The bundle the program published: its version (from its signed manifest) and SHA-256. */
export interface WantedAgent {
  version: string;
  sha256: string;
}

export type RolloutOutcome =
  | { state: "running" }
  | { state: "failed"; upgrade: NonNullable<AgentStatus["upgrade"]> }
  | { state: "pending" };

/** True when the status's last upgrade is about this bundle (by SHA-256 when the node says it). */
function about(upgrade: NonNullable<AgentStatus["upgrade"]>, want: WantedAgent): boolean {
  return upgrade.sha256 !== undefined ? upgrade.sha256 === want.sha256 : upgrade.version === want.version;
}

/**
 * running: the node's agent is that version and not on trial (a node never re-installs the
 * version it runs, so a rebuilt bundle of the same version counts as taken). failed: the node
 * refused the bundle or rolled it back (its reason is in `upgrade`). pending: neither yet.
 */
export function rolloutOutcome(status: AgentStatus, want: WantedAgent): RolloutOutcome {
  const u = status.upgrade;
  // First: a new agent the watchdog already rolled back may still write one status of its own
  // (its version, the rolled-back record) before it is stopped; that is no success.
  if (u && (u.state === "rolled-back" || u.state === "refused") && about(u, want))
    return { state: "failed", upgrade: u };
  if (status.agentVersion === want.version) {
    if (u && u.state === "trial" && u.version === want.version) return { state: "pending" };
    return { state: "running" };
  }
  return { state: "pending" };
}

/** What `pulumi up` allows beyond the node's trial limit: the watchdog's verdict reaching the channel. */
export const ROLLOUT_MARGIN_SECONDS = 30;

/**
 * How long `pulumi up` waits for a node to run a new agent bundle: the release bound, but never
 * less than the node's trial limit and a margin, so that a bundle that hangs (never reports, never
 * exits) fails `pulumi up` with the node's own reason ("did not report within N s ... it said"),
 * not with the wait's.
 */
export function rolloutBoundSeconds(releaseTimeoutSeconds: number, trialSeconds: number): number {
  return Math.max(releaseTimeoutSeconds, Math.ceil(trialSeconds) + ROLLOUT_MARGIN_SECONDS);
}

/** What `pulumi up` says about a bundle a node did not take: what, which node, what to do. */
export function rolloutFailure(
  nodeId: string,
  status: AgentStatus,
  upgrade: NonNullable<AgentStatus["upgrade"]>,
): string {
  const what =
    upgrade.state === "rolled-back"
      ? `rolled back the upgrade to agent ${upgrade.version} and runs agent ${status.agentVersion} again`
      : `refused agent ${upgrade.version} and runs agent ${status.agentVersion}`;
  return (
    `node ${nodeId} ${what}: ${upgrade.reason ?? "no reason given"}. ` +
    "The node never tries that bundle again: fix it, build one with a higher version than the node runs " +
    "(berth:agentBundle names its file) and run `pulumi up` again; `berth status` shows the node's agent"
  );
}
