// When a workspace is idle: no session open and no process activity for its idle timeout. Pure:
// the sync samples the container's CPU time (the Engine API's one-shot stats) and the access
// endpoint reports sessions; this file decides.
//
// Process activity is CPU time: a compile, a test run or a coding agent at work burn it; a shell
// waiting at its prompt, or the devcontainer's keep-alive loop (`while sleep 1 & wait $!`, a few
// milliseconds a second), do not. A sample counts as activity above CPU_ACTIVE_FRACTION of one
// core over the time since the previous sample, so work that began and ended between two samples
// counts too. The last activity (and the last CPU sample) of each workspace outlives an agent
// restart: `record()` is what activity-file.ts keeps in the agent's state folder, `restore()` reads
// it back at start, so a restart does not restart the idle clock. While a session is open the
// pass calls `heartbeat()`, so an agent that dies with sessions open counts from about its death.

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

/** What outlives an agent restart of one workspace's activity (activity-file.ts keeps it). */
export interface ActivityRecordEntry {
  lastActiveMs: number;
  sample?: CpuSample;
}

/** What the node knows of each workspace's activity (see the file's comment). */
export class WorkspaceActivity {
  private readonly open = new Map<string, number>();
  private readonly last = new Map<string, number>();
  private readonly samples = new Map<string, CpuSample>();

  /**
   * `changed` is called when the last activity of a workspace moved, appeared or was forgotten
   * (not for a CPU sample that shows no work: an idle workspace costs no write).
   */
  constructor(
    private readonly now: () => number = Date.now,
    private readonly changed: () => void = () => undefined,
  ) {}

  /** What to keep: each workspace's last activity and its last CPU sample. */
  record(): Record<string, ActivityRecordEntry> {
    const out: Record<string, ActivityRecordEntry> = {};
    for (const [id, lastActiveMs] of this.last) {
      const sample = this.samples.get(id);
      out[id] = { lastActiveMs, ...(sample ? { sample } : {}) };
    }
    return out;
  }

  /**
   * What a previous agent kept, read at start (before any pass). A last activity in the future
   * (a clock set back) counts from now: never later than now, so never a longer sleep than asked.
   */
  restore(record: Record<string, ActivityRecordEntry>): void {
    const now = this.now();
    for (const [id, e] of Object.entries(record)) {
      if (this.last.has(id)) continue;
      this.last.set(id, Math.min(e.lastActiveMs, now));
      if (e.sample && e.sample.atMs <= now) this.samples.set(id, e.sample);
    }
  }

  /** Each pass: a workspace with a session open is active now (kept for a restart). */
  heartbeat(): void {
    for (const id of this.open.keys()) this.touch(id);
  }

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
    this.changed();
  }

  /** A CPU sample of the workspace's container; activity when it worked since the last one. */
  observe(id: string, s: CpuSample): void {
    const active = cpuActive(this.samples.get(id), s);
    this.samples.set(id, s);
    if (active) {
      this.last.set(id, s.atMs);
      this.changed();
    }
  }

  /** The last activity; a workspace not seen before counts from now. */
  lastActiveMs(id: string): number {
    const at = this.last.get(id);
    if (at !== undefined) return at;
    const now = this.now();
    this.last.set(id, now);
    this.changed();
    return now;
  }

  /** A stopped (or removed) workspace starts afresh: its old samples no longer compare. */
  forget(id: string): void {
    this.samples.delete(id);
    if (this.last.delete(id)) this.changed();
  }
}
