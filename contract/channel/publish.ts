// The program's side of the channel: publish a signed release for a node (the release first,
// the desired pointer last, so a node never sees a pointer to a missing release), and wait for
// the node's status.
import type { KeyInput } from "../payload/keys";
import { channelKeys } from "./layout";
import type { EnvironmentStatus } from "./status";
import { type StatusCheck, unverifiedStatus, verifyStatus } from "./status-signature";
import type { ChannelStore } from "./store";
import { signWithdrawal } from "./withdrawal";

export interface PublishedRelease {
  nodeId: string;
  environmentId: string;
  sequence: number;
  /** The serialized signed envelope. */
  envelope: string;
}

export async function publishRelease(channel: ChannelStore, r: PublishedRelease): Promise<void> {
  await channel.put(channelKeys.release(r.nodeId, r.environmentId, r.sequence), r.envelope);
  await channel.put(
    channelKeys.desired(r.nodeId, r.environmentId),
    `${JSON.stringify({ sequence: r.sequence })}\n`,
  );
}

/**
 * Withdraws an environment from a node: a signed withdrawal with `sequence` (above every release
 * of it for that node) first, then desired.json is removed. The node tears the environment down
 * (volumes stay) on the verified withdrawal only; a desired.json that merely disappears is an
 * anomaly it reports.
 */
export async function withdrawEnvironment(
  channel: ChannelStore,
  w: { nodeId: string; environmentId: string; sequence: number; signingKey: KeyInput; issuedAt?: Date },
): Promise<void> {
  await channel.put(
    channelKeys.withdrawal(w.nodeId, w.environmentId),
    signWithdrawal(
      {
        environmentId: w.environmentId,
        nodeId: w.nodeId,
        sequence: w.sequence,
        issuedAt: (w.issuedAt ?? new Date()).toISOString(),
      },
      w.signingKey,
    ),
  );
  await channel.delete(channelKeys.desired(w.nodeId, w.environmentId));
}

/**
 * The environment's status as the channel holds it, signed or not, WITHOUT checking who wrote it:
 * for an operator's eyes and for tests of the agent alone. Nothing the program decides may rest
 * on it; use readVerifiedStatus.
 */
export async function readStatus(
  channel: ChannelStore,
  nodeId: string,
  environmentId: string,
): Promise<EnvironmentStatus | undefined> {
  const text = await channel.get(channelKeys.status(nodeId, environmentId));
  return text === undefined ? undefined : unverifiedStatus(text);
}

/**
 * The environment's status, checked against the node's pinned status key: `undefined` when there
 * is none, otherwise the check (a refused status comes with its reason).
 */
export async function readVerifiedStatus(
  channel: ChannelStore,
  nodeId: string,
  environmentId: string,
  statusKey: string,
): Promise<StatusCheck | undefined> {
  const text = await channel.get(channelKeys.status(nodeId, environmentId));
  if (text === undefined) return undefined;
  return verifyStatus(text, { statusKey, nodeId, environmentId });
}

export class StatusTimeoutError extends Error {}

/**
 * Waits until the node has finished with `sequence` (applied, failed, rolled back or rejected)
 * and returns its status; throws StatusTimeoutError after `timeoutMs`, saying what it last saw.
 * With `statusKey` (what the program does), only a status that verifies against it counts, and a
 * refused one is named in the timeout's message; without it (tests of the agent alone), any
 * status counts.
 */
export async function waitForOutcome(
  channel: ChannelStore,
  o: {
    nodeId: string;
    environmentId: string;
    sequence: number;
    timeoutMs: number;
    /**
     * Between reads when nothing wakes the wait. A watched store (the folder channel) wakes it as
     * the node writes its status and is read again every second in case an event was missed; an
     * S3 bucket has no change notifications, so it is read every 250 ms (a GET of a small object:
     * at most 250 ms added to a `pulumi up`, four requests a second while one waits).
     */
    pollMs?: number;
    statusKey?: string;
  },
): Promise<EnvironmentStatus> {
  const deadline = Date.now() + o.timeoutMs;
  let last: EnvironmentStatus | undefined;
  let refused: string | undefined;
  let wake: (() => void) | undefined;
  let changed = false;
  const unwatch = channel.watch?.(channelKeys.status(o.nodeId, o.environmentId), () => {
    changed = true;
    wake?.();
  });
  const pollMs = o.pollMs ?? (unwatch ? 1_000 : 250);
  try {
    while (Date.now() < deadline) {
      changed = false;
      if (o.statusKey) {
        const check = await readVerifiedStatus(channel, o.nodeId, o.environmentId, o.statusKey);
        last = check?.ok ? check.status : undefined;
        if (check && !check.ok) refused = check.reason;
      } else {
        last = await readStatus(channel, o.nodeId, o.environmentId);
      }
      if (last && last.attemptedSequence === o.sequence && last.state !== "applying") return last;
      if (last && last.state === "applied" && last.appliedSequence === o.sequence) return last;
      if (changed) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, Math.min(pollMs, deadline - Date.now())));
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
  throw new StatusTimeoutError(
    `node ${o.nodeId} did not report on release ${o.sequence} of environment ${o.environmentId} within ${Math.round(o.timeoutMs / 1000)} s` +
      (last
        ? ` (last status: ${last.state}, release ${last.attemptedSequence ?? "none"})`
        : " (no status yet: is the agent running?)") +
      (refused
        ? `; a status that does not verify against the node's pinned status key was ignored: ${refused}`
        : ""),
  );
}
