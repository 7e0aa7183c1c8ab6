// When a workspace is idle: no session open and no process activity for its idle timeout. Pure:
// the sync samples the container's CPU time (the Engine API's one-shot stats) and the access
// endpoint reports sessions; this file decides.
//
// Process activity is CPU time: a compile, a test run or a coding agent at work burn it; a shell
// waiting at its prompt, or the devcontainer's keep-alive loop (`while sleep 1 & wait $!`, a few
// milliseconds a second), do not. A sample counts as activity above CPU_ACTIVE_FRACTION of one
// core over the time since the previous sample, so work that began and ended between two samples
// counts too. Activity is kept in memory: after an agent restart the timeout counts from the
// restart (a workspace is never stopped sooner than its timeout says).

/** CPU time over wall time above which a workspace counts as active (2 % of one core). */
export const CPU_ACTIVE_FRACTION = 0.02;

export interface CpuSample {
  /** When it was read (ms since the epoch). */
  atMs: number;
  /** The container's total CPU time (ns), as the engine counts it. */
  cpuNanos: number;
}

/** Whether the container worked between two samples (a counter that went back: it restarted). */
export function cpuActive(
  prev: CpuSample | undefined,
  cur: CpuSample,
  fraction: number = CPU_ACTIVE_FRACTION,
): boolean {
  if (!prev || cur.atMs <= prev.atMs) return false;
  if (cur.cpuNanos < prev.cpuNanos) return true;
  return (cur.cpuNanos - prev.cpuNanos) / ((cur.atMs - prev.atMs) * 1e6) > fraction;
}

export interface IdleInput {
  nowMs: number;
  /** The declaration's idle timeout; 0 never stops. */
  idleTimeoutSeconds: number;
  /** Access sessions open into the workspace right now. */
  openSessions: number;
  /** The last moment of activity: a session, process activity, or the workspace's start. */
  lastActiveMs: number;
}

export type IdleDecision = { stop: false } | { stop: true; idleSinceMs: number };

/** Stop when nothing is open and nothing happened for the whole timeout. */
export function idleDecision(i: IdleInput): IdleDecision {
  if (i.idleTimeoutSeconds <= 0 || i.openSessions > 0) return { stop: false };
  if (i.nowMs - i.lastActiveMs < i.idleTimeoutSeconds * 1000) return { stop: false };
  return { stop: true, idleSinceMs: i.lastActiveMs };
}

/** What the node knows of each workspace's activity (in memory; see the file's comment). */
export class WorkspaceActivity {
  private readonly open = new Map<string, number>();
  private readonly last = new Map<string, number>();
  private readonly samples = new Map<string, CpuSample>();

  constructor(private readonly now: () => number = Date.now) {}

  sessionStarted(id: string): void {
    this.open.set(id, (this.open.get(id) ?? 0) + 1);
    this.touch(id);
  }

  sessionEnded(id: string): void {
    const n = (this.open.get(id) ?? 1) - 1;
    if (n > 0) this.open.set(id, n);
    else this.open.delete(id);
    this.touch(id);
  }

  openSessions(id: string): number {
    return this.open.get(id) ?? 0;
  }

  /** Activity now (a session, a start). */
  touch(id: string): void {
    this.last.set(id, this.now());
  }

  /** A CPU sample of the workspace's container; activity when it worked since the last one. */
  observe(id: string, s: CpuSample): void {
    if (cpuActive(this.samples.get(id), s)) this.last.set(id, s.atMs);
    this.samples.set(id, s);
  }

  /** The last activity; a workspace not seen before counts from now. */
  lastActiveMs(id: string): number {
    const at = this.last.get(id);
    if (at !== undefined) return at;
    const now = this.now();
    this.last.set(id, now);
    return now;
  }

  /** A stopped (or removed) workspace starts afresh: its old samples no longer compare. */
  forget(id: string): void {
    this.samples.delete(id);
    this.last.delete(id);
  }
}
