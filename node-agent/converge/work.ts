// What converging one environment to its desired release has to do, from the node's own state
// alone. The Converger acts on it; the daemon asks it first (converge/apply-child.ts), so a poll
// that finds nothing to do starts no apply process.
import { createHash } from "node:crypto";

export type ConvergeWork =
  /** The desired release is current, or was tried and reported: wait for a newer one. */
  | "none"
  /** The desired release is current but its outcome was never recorded (a crash after the switch). */
  | "finish"
  /** The desired release is stored without an outcome: an apply a crash interrupted. */
  | "resume"
  /** The release is read from the channel and verified (a new one, or a pointer back: a replay). */
  | "fetch";

export function convergeWork(s: {
  current: number | undefined;
  desired: number;
  /** Whether the store holds the desired release, and its recorded outcome. */
  stored: boolean;
  outcome: string | undefined;
}): ConvergeWork {
  if (s.current === s.desired) return s.outcome === undefined ? "finish" : "none";
  if (!s.stored) return "fetch";
  // Tried already and reported: wait for a newer release. A pointer back to an older one is a
  // replay, and goes through verification to be refused as such.
  if (s.outcome !== undefined) return s.desired >= (s.current ?? 0) ? "none" : "fetch";
  return "resume";
}

/** A release's text as the converger remembers a refusal of it: reported once, not every poll. */
export function releaseFingerprint(sequence: number, text: string): string {
  return `${sequence}:${createHash("sha256").update(text).digest("hex")}`;
}
