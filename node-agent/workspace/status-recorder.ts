// A workspace's status while it is brought up: phases with their timings, kept in
// <workspace dir>/status.json (atomically) and handed to a reporter (the channel) at each change.
// A reporter that fails never fails the workspace.
import { existsSync, readFileSync } from "node:fs";
import {
  type PhaseRecord,
  type WorkspacePhase,
  type WorkspaceStatus,
  workspaceStatus,
} from "../../contract/workspace/declaration";
import { writeFileAtomic } from "../../lib/atomic-write";

export type StatusReporter = (s: WorkspaceStatus) => Promise<void> | void;

export function readStatusFile(file: string): WorkspaceStatus | undefined {
  if (!existsSync(file)) return undefined;
  try {
    return workspaceStatus.parse(JSON.parse(readFileSync(file, "utf8")));
  } catch {
    return undefined;
  }
}

export class StatusRecorder {
  private s: WorkspaceStatus;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly file: string,
    init: Pick<WorkspaceStatus, "workspaceId"> & Partial<WorkspaceStatus>,
    private readonly report?: StatusReporter,
    private readonly onReportError?: (e: unknown) => void,
  ) {
    this.s = {
      formatVersion: 1,
      state: "preparing",
      push: "none",
      phases: [],
      updatedAt: new Date().toISOString(),
      ...init,
    };
  }

  get status(): WorkspaceStatus {
    return this.s;
  }

  update(patch: Partial<WorkspaceStatus>): void {
    this.s = { ...this.s, ...patch, updatedAt: new Date().toISOString() };
    writeFileAtomic(this.file, `${JSON.stringify(this.s, null, 2)}\n`, 0o644);
    const snapshot = this.s;
    const report = this.report;
    if (report) {
      // In order, one at a time; a failed report is logged, never thrown.
      this.queue = this.queue.then(async () => {
        try {
          await report(snapshot);
        } catch (e) {
          this.onReportError?.(e);
        }
      });
    }
  }

  /** Runs `fn` as one phase: its start, duration and outcome are recorded. */
  async phase<T>(phase: WorkspacePhase, fn: () => Promise<T>, detail?: string): Promise<T> {
    const started = Date.now();
    const rec: PhaseRecord = {
      phase,
      startedAt: new Date(started).toISOString(),
      outcome: "running",
      ...(detail ? { detail } : {}),
    };
    const index = this.s.phases.length;
    this.update({ phase, phases: [...this.s.phases, rec] });
    const finish = (outcome: PhaseRecord["outcome"], extra?: string) => {
      const phases = [...this.s.phases];
      phases[index] = {
        ...rec,
        seconds: Math.round((Date.now() - started) / 10) / 100,
        outcome,
        ...(extra ? { detail: extra } : {}),
      };
      const running = phases.find((p) => p.outcome === "running");
      this.update({ phases, ...(running ? { phase: running.phase } : { phase: undefined }) });
    };
    try {
      const out = await fn();
      finish("ok");
      return out;
    } catch (e) {
      const msg = (e as Error).message ?? String(e);
      finish(/timed out/.test(msg) ? "timed-out" : "failed", msg.split("\n")[0]);
      throw e;
    }
  }

  /** Waits until every report handed out so far has been delivered (or failed). */
  flush(): Promise<void> {
    return this.queue;
  }
}

/** Human lines of a status, for `berth-agent workspace status`. */
export function formatStatus(s: WorkspaceStatus): string {
  const lines = [
    `${s.workspaceId}: ${s.state}${s.phase ? ` (${s.phase})` : ""}${s.mode ? `, ${s.mode}` : ""}` +
      (s.secondsToRunning !== undefined ? `, running after ${s.secondsToRunning} s` : ""),
  ];
  if (s.stopped)
    lines.push(`  stopped: ${s.stopped.reason} since ${s.stopped.idleSince} (at ${s.stopped.at})`);
  if (s.image) lines.push(`  image: ${s.image}`);
  if (s.commit) lines.push(`  commit: ${s.commit.slice(0, 12)}`);
  if (s.follow)
    lines.push(
      `  branch: ${s.follow.commit.slice(0, 12)} ${s.follow.state} (fetched ${s.follow.fetchedAt})${s.follow.reason ? ` - ${s.follow.reason}` : ""}`,
    );
  if (s.containerId) lines.push(`  container: ${s.containerId.slice(0, 12)}`);
  if (s.fallbackReason) lines.push(`  fallback: ${s.fallbackReason}`);
  if (s.buildLog) lines.push(`  build log: ${s.buildLog}`);
  if (s.push !== "none") lines.push(`  cache push: ${s.push}${s.pushError ? ` (${s.pushError})` : ""}`);
  if (s.error) lines.push(`  error: ${s.error}`);
  for (const p of s.phases)
    lines.push(
      `  ${p.phase.padEnd(14)} ${p.seconds !== undefined ? `${p.seconds.toFixed(2)} s` : "..."} ${p.outcome}${p.detail ? ` - ${p.detail}` : ""}`,
    );
  return lines.join("\n");
}
