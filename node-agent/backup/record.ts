// What the node remembers about an environment's backups (environments/<env>/backup.json), and
// how it is shown in the node's status. Pure except for `BackupRecordFile`.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { dueAt } from "../../contract/backup/schedule";
import type { NodeBackup } from "../../contract/backup/schema";
import type { BackupRunStatus, BackupStatus } from "../../contract/channel/status";
import { writeFileAtomic } from "../../lib/atomic-write";
import { scrubSecrets } from "../../lib/log";

export interface BackupRecord {
  /** When this node first knew the environment's backups: schedules count from here. */
  since: string;
  /** The backup settings of the release they were last run with (status needs the volume list). */
  config?: NodeBackup;
  volumes: Record<
    string,
    {
      last?: BackupRunStatus;
      lastSuccess?: BackupRunStatus;
      /** Missed since the last success. */
      missed: number;
      /** The last time scheduled runs were found missed, and how many. */
      lastMissed?: { at: string; count: number };
    }
  >;
  prune?: BackupRunStatus;
  check?: BackupRunStatus;
  restore?: BackupStatus["restore"];
  /** The last restore asked through the program (x-berth.backup.restore), done once. */
  lastRequest?: string;
}

export function emptyRecord(now: Date): BackupRecord {
  return { since: now.toISOString(), volumes: {} };
}

export type Job = { kind: "backup"; volume: string } | { kind: "prune" } | { kind: "check" };

export interface TickPlan {
  jobs: Job[];
  /** Scheduled backups that passed without running, per volume (besides the one due now). */
  missed: Record<string, number>;
}

const date = (s: string | undefined) => (s ? new Date(s) : undefined);

/** What is due at `now`: backups per volume, then prune, then check. */
export function planTick(b: NodeBackup, r: BackupRecord, now: Date): TickPlan {
  const since = new Date(r.since);
  const jobs: Job[] = [];
  const missed: Record<string, number> = {};
  for (const v of b.volumes) {
    const d = dueAt(v.schedule, date(r.volumes[v.name]?.last?.at), since, now);
    if (d.due) jobs.push({ kind: "backup", volume: v.name });
    if (d.missed > 0) missed[v.name] = d.missed;
  }
  if (b.volumes.length > 0 && dueAt(b.pruneSchedule, date(r.prune?.at), since, now).due)
    jobs.push({ kind: "prune" });
  if (dueAt(b.checkSchedule, date(r.check?.at), since, now).due) jobs.push({ kind: "check" });
  return { jobs, missed };
}

/** Records one volume's backup attempt. */
export function recordBackup(r: BackupRecord, volume: string, run: BackupRunStatus): BackupRecord {
  const prev = r.volumes[volume] ?? { missed: 0 };
  return {
    ...r,
    volumes: {
      ...r.volumes,
      [volume]: {
        last: run,
        ...(run.ok ? { lastSuccess: run } : prev.lastSuccess ? { lastSuccess: prev.lastSuccess } : {}),
        missed: run.ok ? 0 : prev.missed,
        ...(prev.lastMissed ? { lastMissed: prev.lastMissed } : {}),
      },
    },
  };
}

export function recordMissed(r: BackupRecord, missed: Record<string, number>, now: Date): BackupRecord {
  const volumes = { ...r.volumes };
  for (const [v, n] of Object.entries(missed)) {
    const prev = volumes[v] ?? { missed: 0 };
    volumes[v] = { ...prev, missed: prev.missed + n, lastMissed: { at: now.toISOString(), count: n } };
  }
  return { ...r, volumes };
}

/** The record as the node's status shows it. */
export function backupStatusOf(b: NodeBackup, r: BackupRecord, now: Date): BackupStatus {
  const since = new Date(r.since);
  const volumes = b.volumes.map((v) => {
    const rv = r.volumes[v.name] ?? { missed: 0 };
    const d = dueAt(v.schedule, date(rv.last?.at), since, now);
    return {
      volume: v.name,
      ...(rv.last ? { last: rv.last } : {}),
      ...(rv.lastSuccess ? { lastSuccess: rv.lastSuccess } : {}),
      missed: rv.missed + d.missed,
      ...(rv.lastMissed ? { lastMissed: rv.lastMissed } : {}),
      nextAt: d.next.toISOString(),
    };
  });
  const state: BackupStatus["state"] = volumes.some((v) => v.last && !v.last.ok)
    ? "failing"
    : volumes.some((v) => v.missed > 0)
      ? "missed"
      : volumes.every((v) => v.lastSuccess)
        ? "ok"
        : "pending";
  return {
    state,
    repository: b.repository,
    volumes,
    ...(r.prune ? { prune: r.prune } : {}),
    ...(r.check ? { check: r.check } : {}),
    ...(r.restore ? { restore: r.restore } : {}),
  };
}

/** The record on disk, next to the environment's releases. */
export class BackupRecordFile {
  readonly path: string;
  constructor(envDir: string) {
    this.path = join(envDir, "backup.json");
  }
  read(now: Date): BackupRecord {
    if (!existsSync(this.path)) return emptyRecord(now);
    return JSON.parse(readFileSync(this.path, "utf8")) as BackupRecord;
  }
  exists(): boolean {
    return existsSync(this.path);
  }
  write(r: BackupRecord): void {
    // A hook's output in an error may hold a secret the service printed.
    writeFileAtomic(this.path, `${JSON.stringify(scrubSecrets(r), null, 2)}\n`);
  }
}
