// The AgentRollout dynamic provider's logic (components/release-channel/agent-rollout.ts): after
// the program published a signed agent bundle, `pulumi up` waits until the node's signed agent
// status (nodes/<node>/status/agent/state.json, verified against the status key the state pins
// for the node) names that version, within a bound. A node that refused or rolled back the
// bundle fails `pulumi up` with its reason. A status that does not verify is never believed:
// the wait ignores it and names it when the bound passes.
import type * as pulumi from "@pulumi/pulumi";
import type { ChannelSpec } from "../../contract/channel/access";
import { channelKeys } from "../../contract/channel/layout";
import type { ChannelStore } from "../../contract/channel/store";
import { type AgentStatus, rolloutFailure, rolloutOutcome, verifyAgentStatus } from "../../contract/trust";
import { openChannel } from "./channel";
import { isUnknown } from "./unknown";

export interface AgentRolloutInputs {
  berthKind: "agent-rollout";
  berthProviderVersion: string;
  /** Where the node writes its statuses (the program's credentials read it). */
  channel: ChannelSpec;
  nodeId: string;
  /** The node's status key, as the state pins it: only a status signed by it counts. */
  statusKey: string;
  /** The published bundle's version and SHA-256 (the AgentBundle's). */
  version: string;
  bundleSha256: string;
  /** How long the node may take to install and confirm it. */
  timeoutSeconds: number;
}

export interface AgentRolloutOutputs extends AgentRolloutInputs {
  /** What the node's verified status said when the wait ended. */
  agentVersion: string;
  /** Seconds from the start of the wait until the node ran the version. */
  waitedSeconds: number;
}

/** What is decided on: the node and what it must run. Credentials and the bound change nothing. */
const fingerprint = (i: AgentRolloutInputs) =>
  JSON.stringify([i.nodeId, i.statusKey, i.version, i.bundleSha256, i.berthProviderVersion]);

/**
 * A change when what is decided on changed, or when the node's agent (as the last wait or
 * `pulumi refresh` saw it) is not the published version: the next `pulumi up` waits for it again.
 */
export async function diff(
  _id: string,
  olds: AgentRolloutOutputs,
  news: AgentRolloutInputs,
): Promise<pulumi.dynamic.DiffResult> {
  if (isUnknown(news)) return { changes: true, replaces: [], deleteBeforeReplace: false };
  const drifted = olds.agentVersion !== undefined && olds.agentVersion !== news.version;
  return {
    changes: drifted || fingerprint(olds) !== fingerprint(news),
    replaces: [],
    deleteBeforeReplace: false,
  };
}

/**
 * `pulumi refresh`: the agent version the node's signed status names, verified against the status
 * key the state pins for the node. A status that is missing or does not verify (unsigned, forged,
 * about another node) changes nothing: only what the node signed is believed.
 */
export async function read(id: string, props: AgentRolloutOutputs): Promise<pulumi.dynamic.ReadResult> {
  if (!props?.statusKey || !props.nodeId || !props.channel) return { id, props };
  const channel = openChannel(props.channel);
  try {
    const text = await channel.get(channelKeys.agentStatus(props.nodeId));
    if (text === undefined) return { id, props };
    const check = verifyAgentStatus(text, { statusKey: props.statusKey, nodeId: props.nodeId });
    if (!check.ok) return { id, props };
    return { id, props: { ...props, agentVersion: check.status.agentVersion } };
  } finally {
    (channel as { destroy?: () => void }).destroy?.();
  }
}

/**
 * Waits for the node's verified agent status to name `version`; throws with the node's reason
 * when it refused or rolled the bundle back, and with what it last saw when the bound passes.
 * A folder channel wakes the wait as the node writes its status (read every second as well); a
 * bucket is read every `pollMs`.
 */
export async function waitForAgent(
  channel: ChannelStore,
  i: Pick<AgentRolloutInputs, "nodeId" | "statusKey" | "version" | "bundleSha256" | "timeoutSeconds">,
  pollMs?: number,
): Promise<AgentStatus> {
  const key = channelKeys.agentStatus(i.nodeId);
  const deadline = Date.now() + i.timeoutSeconds * 1000;
  let last: AgentStatus | undefined;
  let refused: string | undefined;
  let wake: (() => void) | undefined;
  let changed = false;
  const unwatch = channel.watch?.(key, () => {
    changed = true;
    wake?.();
  });
  const every = pollMs ?? (unwatch ? 1_000 : 250);
  try {
    while (Date.now() < deadline) {
      changed = false;
      const text = await channel.get(key);
      if (text !== undefined) {
        const check = verifyAgentStatus(text, { statusKey: i.statusKey, nodeId: i.nodeId });
        if (check.ok) {
          last = check.status;
          const outcome = rolloutOutcome(check.status, { version: i.version, sha256: i.bundleSha256 });
          if (outcome.state === "running") return check.status;
          if (outcome.state === "failed")
            throw new Error(rolloutFailure(i.nodeId, check.status, outcome.upgrade));
        } else refused = check.reason;
      }
      if (changed) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, Math.min(every, deadline - Date.now())));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  } finally {
    unwatch?.();
  }
  const lastUpgrade = last?.upgrade
    ? `; its last upgrade: ${last.upgrade.state} ${last.upgrade.version}${last.upgrade.reason ? ` (${last.upgrade.reason})` : ""}`
    : "";
  throw new Error(
    `node ${i.nodeId} did not run agent ${i.version} within ${i.timeoutSeconds} s` +
      (last
        ? ` (its signed status says agent ${last.agentVersion}, at ${last.updatedAt}${lastUpgrade})`
        : " (no signed agent status yet: is the agent running?)") +
      (refused
        ? `; an agent status that does not verify against the node's pinned status key was ignored: ${refused}`
        : "") +
      "; the bundle stays published and the node takes it when it can: run `pulumi up` again to wait for it, or raise berth:releaseTimeoutSeconds",
  );
}

async function rollout(news: AgentRolloutInputs): Promise<AgentRolloutOutputs> {
  const started = Date.now();
  const channel = openChannel(news.channel);
  try {
    const status = await waitForAgent(channel, news);
    return { ...news, agentVersion: status.agentVersion, waitedSeconds: (Date.now() - started) / 1000 };
  } finally {
    (channel as { destroy?: () => void }).destroy?.();
  }
}

export async function create(news: AgentRolloutInputs): Promise<pulumi.dynamic.CreateResult> {
  return { id: `${news.nodeId}@agent`, outs: await rollout(news) };
}

export async function update(
  _id: string,
  _olds: AgentRolloutOutputs,
  news: AgentRolloutInputs,
): Promise<pulumi.dynamic.UpdateResult> {
  return { outs: await rollout(news) };
}
