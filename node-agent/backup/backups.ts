// The node's backups: restic against the environment's repository, hooks through Docker. A thin
// shell: what to run is built by restic.ts (restic) and commands.ts (Docker), when by record.ts;
// this file runs it (Docker through the agent's runner, restic through `restic`, both injected)
// and records the outcome. Secrets reach restic only through its environment, and are redacted
// from errors.
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { NodeBackup, NodeBackupVolume } from "../../contract/backup/schema";
import type { BackupRunStatus, BackupStatus } from "../../contract/channel/status";
import { volumeName } from "../../contract/render/node-compose";
import { fsyncDir } from "../../lib/atomic-write";
import { flushedAfter, flushFileSystem } from "../../lib/flush";
import type { Logger } from "../../lib/log";
import { type RunResult, redactText, run } from "../../lib/process";
import type { Command } from "../compose/commands";
import type { DockerRunner } from "../docker";
import { acquireLock, type Lock, LockHeldError } from "../state/lock";
import * as docker from "./commands";
import { inspectFolder } from "./folder";
import {
  type BackupRecord,
  BackupRecordFile,
  backupStatusOf,
  planTick,
  recordBackup,
  recordMissed,
} from "./record";
import {
  describeResticFailure,
  isMissingRepository,
  isNoSnapshot,
  newestPerVolume,
  parseBackupSummary,
  parseResticStatus,
  parseRestoring,
  parseSnapshots,
  progressFps,
  type ResticAccess,
  type ResticCall,
  type ResticProgress,
  restic,
  resticEnv,
  type Snapshot,
  unreadItems,
} from "./restic";
import {
  type ExchangeFolders,
  exchangeFolders,
  hasSwapJournal,
  planSwapRecovery,
  readSwapJournal,
  removeSwapJournal,
  runSwapSteps,
  type SwapJournal,
  type SwapRecoveryPlan,
  seen,
  writeSwapJournal,
} from "./swap";

/** Runs one restic command (never throws for its exit code): restic's own runner. */
export type ResticRunner = (
  cmd: Command,
  o: {
    cwd: string;
    env: Record<string, string>;
    redact: readonly string[];
    timeoutMs: number;
    /** Each line restic prints on stdout as it comes (its progress, with --json). */
    onStdoutLine?: (line: string) => void;
  },
) => Promise<RunResult>;

/** A backup's or a restore's progress, as restic reports it, for an operator at a terminal. */
export type ResticProgressListener = (
  o: { volume: string; what: "backup" | "restore" },
  p: ResticProgress,
) => void;

/** restic through lib/process. */
export const runRestic: ResticRunner = (cmd, o) => run(cmd.file, cmd.args, { ...o, allowFailure: true });

export interface BackupsDeps {
  stateRoot: string;
  docker: DockerRunner;
  /** Default: runRestic. */
  restic?: ResticRunner;
  log: Logger;
  /** The restic binary (default: restic on PATH). */
  resticPath?: string;
  /** Bound on one restic call. */
  timeoutMs?: number;
  now?: () => Date;
  /** Called after containers of `env` were stopped and started again (their host ports changed). */
  restarted?: (env: string) => Promise<void>;
  /** restic's progress of each volume's backup and restore (the CLI on a terminal). */
  progress?: ResticProgressListener;
  /**
   * Called at the points of a first apply's restore (`restore:downloaded`, `restore:flushed`,
   * `restore:moved`) and of a restore over a volume's data (`swap:restored`, `swap:journaled`,
   * `swap:stopped`, `swap:aside` (only without an exchange), `swap:placed`, `swap:cleaned`; swap.ts): the crash tests'
   * fault injection kills the agent there.
   */
  onStep?: (step: string) => Promise<void> | void;
  /** How two folders are exchanged in one step (default: renameat2 through python3; swap.ts). */
  exchange?: ExchangeFolders;
}

/**
 * Removes what a killed restore left beside the volume's folder: its `<volume>.restore-*`
 * folders (restic's partial output, never moved into place). Held under the backup lock, so no
 * restore of this node writes there now.
 */
function removeStaleRestores(device: string): string[] {
  const stale = staleRestores(device);
  for (const path of stale) rmSync(path, { recursive: true, force: true });
  return stale;
}

function staleRestores(device: string): string[] {
  const parent = dirname(device);
  if (!existsSync(parent)) return [];
  const prefix = `${basename(device)}.restore-`;
  return readdirSync(parent)
    .filter((name) => name.startsWith(prefix))
    .map((name) => join(parent, name));
}

/** A volume whose folder a restore may swap. */
export interface SwappedVolume {
  name: string;
  device: string;
}

/**
 * Whether a killed restore left something beside one of these volumes: a swap's journal, or a
 * partial restore. Cheap (one folder listing per volume): asked at every pass.
 */
export function interruptedRestore(volumes: readonly SwappedVolume[]): boolean {
  return volumes.some((v) => hasSwapJournal(v.device) || staleRestores(v.device).length > 0);
}

export class BackupError extends Error {}

export type RestoreReason = "first-apply" | "operator";
export type RestoreReport = NonNullable<BackupStatus["restore"]>;

export interface RestoreOptions {
  reason: RestoreReason;
  /** A snapshot id (or its short id): restores that snapshot into its volume. */
  snapshot?: string;
  /** Only this volume (newest snapshot). */
  volume?: string;
  /** Replace a volume even when its data is newer than the snapshot. */
  force?: boolean;
}

function elapsed(start: number): number {
  return Date.now() - start;
}

export class Backups {
  /** The unsettled swaps already reported by this process (recoverInterrupted). */
  private readonly unsettledSaid = new Set<string>();

  constructor(private readonly d: BackupsDeps) {}

  private now(): Date {
    return this.d.now?.() ?? new Date();
  }

  envDir(env: string): string {
    return join(this.d.stateRoot, "environments", env);
  }

  record(env: string): BackupRecordFile {
    return new BackupRecordFile(this.envDir(env));
  }

  /** Held while restic works on the environment's repository from this node. */
  lock(env: string): Lock {
    mkdirSync(this.envDir(env), { recursive: true, mode: 0o700 });
    return acquireLock(join(this.envDir(env), "backup.lock"), `a backup or restore of ${env}`);
  }

  access(b: NodeBackup, secrets: Record<string, string>): ResticAccess {
    const get = (what: string, name: string) => {
      const v = secrets[name];
      if (v === undefined || v === "")
        throw new BackupError(`the release carries no value for the backup secret ${name} (${what})`);
      return v;
    };
    return {
      repository: b.repository,
      region: b.region,
      password: get("repository password", b.secrets.password),
      accessKeyId: get("bucket access key id", b.secrets.accessKeyId),
      secretAccessKey: get("bucket secret key", b.secrets.secretAccessKey),
      cacheDir: join(this.d.stateRoot, "restic-cache"),
    };
  }

  private async restic(
    a: ResticAccess,
    call: ResticCall,
    shows?: { volume: string; what: "backup" | "restore" },
  ): Promise<RunResult> {
    const secrets = [a.password, a.accessKeyId, a.secretAccessKey];
    const listener = shows ? this.d.progress : undefined;
    const r = await (this.d.restic ?? runRestic)(
      { file: this.d.resticPath ?? "restic", args: call.args },
      {
        cwd: call.cwd ?? "/",
        env: { ...resticEnv(a), RESTIC_PROGRESS_FPS: progressFps(listener !== undefined) },
        redact: secrets,
        timeoutMs: this.d.timeoutMs ?? 6 * 3600_000,
        ...(listener && shows
          ? {
              onStdoutLine: (line: string) => {
                const p = parseResticStatus(line);
                if (p) listener(shows, p);
              },
            }
          : {}),
      },
    );
    // What restic says ends up in the status and the logs: never with a credential in it.
    return { ...r, stderr: redactText(r.stderr, secrets) };
  }

  private async resticOk(
    a: ResticAccess,
    call: ResticCall,
    what: string,
    shows?: { volume: string; what: "backup" | "restore" },
  ): Promise<RunResult> {
    const r = await this.restic(a, call, shows);
    if (r.exitCode !== 0) throw new BackupError(`${what}: ${describeResticFailure(r.stderr, a.repository)}`);
    return r;
  }

  /** Opens the repository, creating it when there is none. */
  async ensureRepository(a: ResticAccess): Promise<void> {
    const r = await this.restic(a, restic.catConfig(a.region));
    if (r.exitCode === 0) return;
    if (!isMissingRepository(r.stderr))
      throw new BackupError(`opening the repository: ${describeResticFailure(r.stderr, a.repository)}`);
    this.d.log.info({ repository: a.repository }, "creating the backup repository");
    await this.resticOk(a, restic.init(a.region), "creating the repository");
  }

  /** The snapshots of the environment (one volume's, when given), oldest first; none when there is no repository. */
  async snapshots(env: string, a: ResticAccess, volume?: string): Promise<Snapshot[]> {
    const r = await this.restic(a, restic.snapshots(a.region, env, volume));
    if (r.exitCode !== 0) {
      if (isMissingRepository(r.stderr)) return [];
      throw new BackupError(`listing snapshots: ${describeResticFailure(r.stderr, a.repository)}`);
    }
    return parseSnapshots(r.stdout);
  }

  private async runningContainers(env: string, service: string): Promise<string[]> {
    return docker.parseIds((await this.d.docker(docker.runningContainersOf(env, service))).stdout);
  }

  private async hook(env: string, h: { service: string; command: string[] }, when: string): Promise<void> {
    const ids = await this.runningContainers(env, h.service);
    if (ids.length === 0)
      throw new BackupError(`the ${when} hook's service ${h.service} has no running container`);
    const r = await this.d.docker(docker.exec(ids[0] as string, h.command), {
      allowFailure: true,
      timeoutMs: 600_000,
    });
    if (r.exitCode !== 0) {
      const tail = (r.stderr || r.stdout).trim().split("\n").slice(-5).join("\n");
      throw new BackupError(
        `the ${when} hook (${h.command.join(" ")} in ${h.service}) exited with ${r.exitCode}${tail ? `: ${tail}` : ""}`,
      );
    }
  }

  /** Backs one volume up, with its hooks. Never throws: the outcome says what happened. */
  async backupVolume(env: string, a: ResticAccess, v: NodeBackupVolume): Promise<BackupRunStatus> {
    const at = this.now().toISOString();
    const start = Date.now();
    let stopped: string[] = [];
    let result: BackupRunStatus | undefined;
    const errors: string[] = [];
    try {
      if (!existsSync(v.device)) throw new BackupError(`the volume's folder ${v.device} does not exist`);
      if (v.before) await this.hook(env, v.before, "before");
      for (const s of v.stop) {
        const ids = await this.runningContainers(env, s);
        if (ids.length > 0) await this.d.docker(docker.stopContainers(ids));
        stopped = [...stopped, ...ids];
      }
      // The backup itself finds out whether the repository exists (one call fewer per backup);
      // only a missing one is created, then the backup runs again.
      const call = restic.backup(a.region, env, v.name, v.device);
      const shows = { volume: v.name, what: "backup" as const };
      let r = await this.restic(a, call, shows);
      if (r.exitCode !== 0 && isMissingRepository(r.stderr)) {
        await this.ensureRepository(a);
        r = await this.restic(a, call, shows);
      }
      // Exit 3: the snapshot was made, but some files could not be read (a live database's
      // journal removed during the scan): a backup, with a warning naming them.
      if (r.exitCode !== 0 && r.exitCode !== 3)
        throw new BackupError(`backup: ${describeResticFailure(r.stderr, a.repository)}`);
      const summary = parseBackupSummary(r.stdout);
      const unread = r.exitCode === 3 ? unreadItems(r.stdout + r.stderr) : [];
      result = {
        at,
        durationMs: 0,
        ok: true,
        snapshotId: summary.snapshotId,
        bytesAdded: summary.bytesAdded,
        ...(r.exitCode === 3
          ? {
              warning: `some files could not be read (changed or removed during the backup): ${unread.join(", ") || "see the agent's log"}`,
            }
          : {}),
      };
    } catch (e) {
      errors.push((e as Error).message);
    } finally {
      if (stopped.length > 0) {
        const r = await this.d.docker(docker.startContainers(stopped), { allowFailure: true });
        if (r.exitCode !== 0)
          errors.push(`starting ${stopped.length} stopped container(s) again failed: ${r.stderr.trim()}`);
        await this.afterRestart(env, errors);
      }
      if (v.after) {
        try {
          await this.hook(env, v.after, "after");
        } catch (e) {
          errors.push((e as Error).message);
        }
      }
    }
    const out: BackupRunStatus = {
      ...(result ?? { at, ok: false }),
      at,
      durationMs: elapsed(start),
      ok: errors.length === 0 && result !== undefined,
      ...(errors.length > 0 ? { error: errors.join("; ") } : {}),
    };
    const log = { environment: env, volume: v.name, ...out };
    if (out.ok) this.d.log.info(log, "volume backed up");
    else this.d.log.error(log, "backup failed");
    return out;
  }

  private async afterRestart(env: string, errors: string[]): Promise<void> {
    try {
      await this.d.restarted?.(env);
    } catch (e) {
      errors.push(`pointing the proxy at the restarted containers failed: ${(e as Error).message}`);
    }
  }

  private update(env: string, b: NodeBackup, f: (r: BackupRecord) => BackupRecord): BackupRecord {
    mkdirSync(this.envDir(env), { recursive: true, mode: 0o700 });
    const file = this.record(env);
    const next = f({ ...file.read(this.now()), config: b });
    file.write(next);
    return next;
  }

  /** Backs up the given volumes (default: all) now, recording each outcome. */
  async backupNow(env: string, b: NodeBackup, secrets: Record<string, string>, volumes?: string[]) {
    const a = this.access(b, secrets);
    const chosen = b.volumes.filter((v) => !volumes || volumes.includes(v.name));
    const unknown = (volumes ?? []).filter((n) => !b.volumes.some((v) => v.name === n));
    if (unknown.length > 0)
      throw new BackupError(
        `${env} backs up no volume ${unknown.join(", ")} (backed up: ${b.volumes.map((v) => v.name).join(", ") || "none"})`,
      );
    const runs: { volume: string; run: BackupRunStatus }[] = [];
    for (const v of chosen) {
      const r = await this.backupVolume(env, a, v);
      this.update(env, b, (rec) => recordBackup(rec, v.name, r));
      runs.push({ volume: v.name, run: r });
    }
    return runs;
  }

  /** `forget --prune` with each volume's retention. */
  prune(env: string, b: NodeBackup, secrets: Record<string, string>): Promise<BackupRunStatus> {
    return this.maintain(env, b, secrets, "prune", async (a) => {
      for (const v of b.volumes)
        await this.resticOk(
          a,
          restic.forget(a.region, env, v.name, v.retention),
          `forget --prune of ${v.name}`,
        );
    });
  }

  check(env: string, b: NodeBackup, secrets: Record<string, string>): Promise<BackupRunStatus> {
    return this.maintain(env, b, secrets, "check", (a) => this.resticOk(a, restic.check(a.region), "check"));
  }

  /** A repository task (prune, check): timed, its outcome in the status, never thrown. */
  private async maintain(
    env: string,
    b: NodeBackup,
    secrets: Record<string, string>,
    kind: "prune" | "check",
    work: (a: ResticAccess) => Promise<unknown>,
  ): Promise<BackupRunStatus> {
    const a = this.access(b, secrets);
    const at = this.now().toISOString();
    const start = Date.now();
    let out: BackupRunStatus;
    try {
      await this.ensureRepository(a);
      await work(a);
      out = { at, durationMs: elapsed(start), ok: true };
    } catch (e) {
      out = { at, durationMs: elapsed(start), ok: false, error: (e as Error).message };
      this.d.log.error(
        { environment: env, error: out.error },
        kind === "prune" ? "prune failed" : "repository check failed",
      );
    }
    this.update(env, b, (r) => ({ ...r, [kind]: out }));
    return out;
  }

  /**
   * Runs what the schedules say is due at `now`; returns whether anything ran or was missed.
   * `maintain: false`: the volumes' backups only, no prune or check (on a node group, one holder
   * maintains the repository).
   */
  async tick(
    env: string,
    b: NodeBackup,
    /** The secrets, or how to open them: called only when a job is due. */
    secretsOrOpen: Record<string, string> | (() => Record<string, string>),
    o: { maintain?: boolean } = {},
  ): Promise<boolean> {
    const now = this.now();
    const file = this.record(env);
    if (!file.exists()) this.update(env, b, (r) => r);
    const planned = planTick(b, file.read(now), now);
    const plan =
      o.maintain === false ? { ...planned, jobs: planned.jobs.filter((j) => j.kind === "backup") } : planned;
    if (Object.keys(plan.missed).length > 0) {
      this.d.log.warn({ environment: env, missed: plan.missed }, "scheduled backups were missed");
      this.update(env, b, (r) => recordMissed(r, plan.missed, now));
    }
    if (plan.jobs.length === 0) return Object.keys(plan.missed).length > 0;
    let lock: Lock;
    try {
      lock = this.lock(env);
    } catch (e) {
      this.d.log.warn({ environment: env, err: (e as Error).message }, "backup skipped: another one runs");
      return false;
    }
    try {
      const secrets = typeof secretsOrOpen === "function" ? secretsOrOpen() : secretsOrOpen;
      const volumes = plan.jobs.flatMap((j) => (j.kind === "backup" ? [j.volume] : []));
      if (volumes.length > 0) await this.backupNow(env, b, secrets, volumes);
      if (plan.jobs.some((j) => j.kind === "prune")) await this.prune(env, b, secrets);
      if (plan.jobs.some((j) => j.kind === "check")) await this.check(env, b, secrets);
    } finally {
      lock.release();
    }
    return true;
  }

  /** A restore that could not start (no such snapshot, unreadable repository), as its report. */
  noteRestoreFailure(env: string, b: NodeBackup, error: string): void {
    this.update(env, b, (r) => ({
      ...r,
      restore: {
        at: this.now().toISOString(),
        reason: "operator",
        volumes: [{ volume: b.restore?.volume ?? "*", action: "failed", detail: error }],
      },
    }));
  }

  markRequest(env: string, b: NodeBackup, key: string): void {
    this.update(env, b, (r) => ({ ...r, lastRequest: key }));
  }

  status(env: string): BackupStatus | undefined {
    const file = this.record(env);
    if (!file.exists()) return undefined;
    const r = file.read(this.now());
    return r.config ? backupStatusOf(r.config, r, this.now()) : undefined;
  }

  /**
   * Restores volumes from snapshots. A volume that holds data is kept unless the operator asks
   * (its data is newer than the snapshot: only with `force`); before a first apply, only empty
   * volumes are filled. The report says what was found and done per volume.
   */
  async restore(
    env: string,
    b: NodeBackup,
    secrets: Record<string, string>,
    o: RestoreOptions,
  ): Promise<RestoreReport> {
    const a = this.access(b, secrets);
    // What a killed restore left is settled first: a first apply must not take a volume whose
    // data sits aside in a cut swap for an empty one.
    const recovered = await this.recoverInterrupted(env, b.volumes);
    const report: RestoreReport = { at: this.now().toISOString(), reason: o.reason, volumes: [...recovered] };
    if (!o.snapshot) {
      const vols = b.volumes.filter((v) => !o.volume || v.name === o.volume);
      if (o.volume && vols.length === 0) throw new BackupError(`${env} backs up no volume ${o.volume}`);
      let all: Snapshot[] | undefined;
      for (const v of vols) {
        // An empty volume needs no comparison with the snapshot's time: restore its newest
        // snapshot at once (one restic call fewer, each opens the repository). Not when the
        // progress is shown: a restore with --json may not name the snapshot it picked, so it
        // is picked from the listing first.
        if (!this.d.progress && inspectFolder(v.device).empty) {
          report.volumes.push(await this.restoreLatest(env, a, v));
          continue;
        }
        all ??= await this.snapshots(env, a);
        report.volumes.push(await this.restoreVolume(env, a, v, newestPerVolume(all).get(v.name), o));
      }
      this.finishRestore(env, b, report);
      return report;
    }
    // A chosen snapshot: it names its volume.
    const wanted = o.snapshot;
    const all = await this.snapshots(env, a);
    const s = all.find((x) => x.id === wanted || x.shortId === wanted || x.id.startsWith(wanted));
    if (!s)
      throw new BackupError(
        `no snapshot ${wanted} of ${env} in ${b.repository} (berth-agent snapshots ${env} lists them)`,
      );
    const v = b.volumes.find((x) => x.name === s.volume);
    if (!v)
      throw new BackupError(
        `snapshot ${wanted} holds volume ${s.volume ?? "?"}, which ${env} does not back up`,
      );
    const targets = [{ volume: v, snapshot: s }];
    for (const t of targets) report.volumes.push(await this.restoreVolume(env, a, t.volume, t.snapshot, o));
    this.finishRestore(env, b, report);
    return report;
  }

  private finishRestore(env: string, b: NodeBackup, report: RestoreReport): void {
    this.update(env, b, (r) => ({ ...r, restore: report }));
    for (const v of report.volumes)
      this.d.log[v.action === "failed" ? "error" : "info"]({ environment: env, ...v }, "restore");
  }

  /** The newest snapshot of an empty (or absent) volume, restored beside it and moved in. */
  private async restoreLatest(
    env: string,
    a: ResticAccess,
    v: NodeBackupVolume,
  ): Promise<RestoreReport["volumes"][number]> {
    mkdirSync(dirname(v.device), { recursive: true });
    const unsettled = this.unsettledSwap(v);
    if (unsettled) return { volume: v.name, action: "failed", detail: unsettled };
    removeStaleRestores(v.device);
    const tmp = `${v.device}.restore-${process.pid}-${Date.now()}`;
    const r = await this.restic(a, restic.restoreLatest(a.region, env, v.name, tmp));
    if (r.exitCode === 0) {
      // Crash safety: the data is on disk before its folder takes the volume's name (a rename,
      // journaled after the flush). A crash before the rename leaves the volume empty, and the
      // next pass restores it again; after it, the volume holds the whole snapshot. Never the
      // other way round: a crash that kept the name but lost the data would leave a volume that
      // holds files (so it is kept) but not the snapshot's bytes. The flush also spares the
      // first container start from paying for it (lib/flush.ts).
      await this.d.onStep?.("restore:downloaded");
      await flushFileSystem(dirname(tmp));
      await this.d.onStep?.("restore:flushed");
    }
    if (r.exitCode !== 0) {
      rmSync(tmp, { recursive: true, force: true });
      if (isMissingRepository(r.stderr) || isNoSnapshot(r.stderr))
        return { volume: v.name, action: "none", detail: `no snapshot of this volume in ${a.repository}` };
      return {
        volume: v.name,
        action: "failed",
        detail: `restoring the newest snapshot: ${describeResticFailure(r.stderr, a.repository)}`,
      };
    }
    const picked = parseRestoring(r.stdout);
    mkdirSync(tmp, { recursive: true });
    // Onto the empty folder (rename replaces an empty directory), or where there is none.
    renameSync(tmp, v.device);
    await this.d.onStep?.("restore:moved");
    return {
      volume: v.name,
      action: "restored",
      ...(picked ? { snapshotId: picked.shortId } : {}),
      detail: `restored snapshot ${picked?.shortId ?? "latest"}${picked ? ` of ${picked.time}` : ""} into the empty volume`,
    };
  }

  private async restoreVolume(
    env: string,
    a: ResticAccess,
    v: NodeBackupVolume,
    s: Snapshot | undefined,
    o: RestoreOptions,
  ): Promise<RestoreReport["volumes"][number]> {
    if (!s)
      return { volume: v.name, action: "none", detail: `no snapshot of this volume in ${a.repository}` };
    const f = inspectFolder(v.device);
    const snapTime = Date.parse(s.time);
    const base = { volume: v.name, snapshotId: s.shortId };
    if (!f.empty) {
      const found = `the volume holds ${f.files} entries, newest change ${new Date(f.newestMs).toISOString()}; snapshot ${s.shortId} is of ${s.time}`;
      if (o.reason === "first-apply")
        return {
          ...base,
          action: "kept",
          detail: `${found}: kept the volume's data (berth-agent restore ${env} --force replaces it)`,
        };
      if (f.newestMs > snapTime && !o.force)
        return {
          ...base,
          action: "kept",
          detail: `${found}: its data is newer than the snapshot, not replaced (add --force to replace it)`,
        };
    }
    const parent = dirname(v.device);
    mkdirSync(parent, { recursive: true });
    const unsettled = this.unsettledSwap(v);
    if (unsettled) return { ...base, action: "failed", detail: unsettled };
    removeStaleRestores(v.device);
    const tmp = `${v.device}.restore-${process.pid}-${Date.now()}`;
    const old = `${v.device}.replaced-${process.pid}-${Date.now()}`;
    // The swap's journal (swap.ts): written before anything is stopped or moved; from then on,
    // whatever stops this process, the next pass finishes or rolls back the swap from it.
    let journal: SwapJournal | undefined;
    try {
      await flushedAfter(
        parent,
        this.resticOk(
          a,
          restic.restore(a.region, s.id, tmp, this.d.progress !== undefined),
          `restoring snapshot ${s.shortId}`,
          { volume: v.name, what: "restore" },
        ),
      );
      mkdirSync(tmp, { recursive: true });
      await this.d.onStep?.("swap:restored");
      // Containers that mount the volume are stopped for the swap and started again after it.
      const using = f.exists
        ? docker.parseIds(
            (await this.d.docker(docker.runningContainersUsing(volumeName(env, v.name)))).stdout,
          )
        : [];
      journal = {
        volume: v.name,
        device: v.device,
        restored: tmp,
        aside: old,
        restoredIno: statSync(tmp).ino,
        ...(f.exists ? { previousIno: statSync(v.device).ino } : {}),
        snapshot: { id: s.id, shortId: s.shortId, time: s.time },
        containers: using,
        at: this.now().toISOString(),
      };
      writeSwapJournal(journal);
      await this.d.onStep?.("swap:journaled");
      if (using.length > 0) await this.d.docker(docker.stopContainers(using));
      await this.d.onStep?.("swap:stopped");
      // One atomic exchange where the node gives it (the previous data then at tmp)…
      if (f.exists) await (this.d.exchange ?? exchangeFolders)(tmp, v.device);
      if (seen(v.device)?.ino !== journal.restoredIno) {
        // … else two renames, with no folder at the volume's path between them.
        if (f.exists) renameSync(v.device, old);
        await this.d.onStep?.("swap:aside");
        renameSync(tmp, v.device);
      }
      fsyncDir(parent);
      await this.d.onStep?.("swap:placed");
      // The previous data, wherever the swap put it.
      rmSync(tmp, { recursive: true, force: true });
      rmSync(old, { recursive: true, force: true });
      await this.d.onStep?.("swap:cleaned");
      const restarted = await this.endSwap(env, journal);
      return {
        ...base,
        action: "restored",
        detail: `${
          f.empty
            ? `restored snapshot ${s.shortId} of ${s.time} into the empty volume`
            : `replaced the volume's data (newest change ${new Date(f.newestMs).toISOString()}) with snapshot ${s.shortId} of ${s.time}`
        }${restarted ? `; ${restarted}` : ""}`,
      };
    } catch (e) {
      const error = (e as Error).message;
      if (!journal) {
        rmSync(tmp, { recursive: true, force: true });
        return { ...base, action: "failed", detail: error };
      }
      // Stopped or moved already: settled here as the next pass would settle it.
      return this.settle(env, journal, error);
    }
  }

  /** Why a volume's swap is still unsettled (its journal stayed: swap.ts's "stuck"), if it is. */
  private unsettledSwap(v: SwappedVolume): string | undefined {
    return hasSwapJournal(v.device)
      ? `an interrupted restore's swap of this volume is unsettled (${v.device}.swap.json): see the last restore report, settle it by hand, then remove that file`
      : undefined;
  }

  /**
   * A swap done: its containers started again, then its journal removed. Returns what was said
   * about the containers when that went wrong.
   */
  private async endSwap(env: string, j: SwapJournal): Promise<string | undefined> {
    const errors: string[] = [];
    if (j.containers.length > 0) {
      const r = await this.d.docker(docker.startContainers(j.containers), { allowFailure: true });
      if (r.exitCode !== 0)
        errors.push(`starting ${j.containers.length} stopped container(s) again failed: ${r.stderr.trim()}`);
      await this.afterRestart(env, errors);
    }
    removeSwapJournal(j.device);
    return errors.length > 0 ? errors.join("; ") : undefined;
  }

  /**
   * Settles an interrupted swap from its journal and what its paths hold now (swap.ts): finished
   * or rolled back, its containers started again, the journal removed; or, when neither is safe,
   * nothing touched and the journal kept. `cause`: the error that cut this process's own swap.
   */
  private async settle(
    env: string,
    j: SwapJournal,
    cause?: string,
  ): Promise<RestoreReport["volumes"][number]> {
    const plan: SwapRecoveryPlan = planSwapRecovery(j, {
      device: seen(j.device),
      restored: seen(j.restored),
      aside: seen(j.aside),
    });
    const base = { volume: j.volume, snapshotId: j.snapshot.shortId };
    const what = cause
      ? `restoring snapshot ${j.snapshot.shortId} of ${j.snapshot.time} failed during the swap (${cause}), leaving ${plan.found}`
      : `a restore of snapshot ${j.snapshot.shortId} of ${j.snapshot.time}, begun ${j.at}, was cut off during the swap, leaving ${plan.found}`;
    if (plan.outcome === "stuck")
      return {
        ...base,
        action: "failed",
        detail: `${what}: neither the previous data nor the snapshot can be put back safely, so nothing was touched; keep the data you want at ${j.device} (the previous data was ${j.aside}, the restored copy ${j.restored}), start the environment's stopped containers, then remove ${j.device}.swap.json`,
      };
    runSwapSteps(plan.steps, dirname(j.device));
    const restarted = await this.endSwap(env, j);
    const containers =
      j.containers.length > 0 && !restarted
        ? `, ${j.containers.length} stopped container(s) started again`
        : "";
    const tail = restarted ? `; ${restarted}` : "";
    if (plan.outcome === "completed")
      return {
        ...base,
        action: "restored",
        detail: `${what}: finished it, the volume holds the snapshot (the previous data removed${containers})${tail}`,
      };
    return {
      ...base,
      action: cause ? "failed" : "kept",
      detail: `${what}: rolled back, the volume holds its previous data (the restored copy removed${containers}); berth-agent restore ${env} --snapshot ${j.snapshot.shortId} --force runs it again${tail}`,
    };
  }

  /**
   * Settles what killed restores left beside these volumes (called under the backup lock): each
   * interrupted swap finished or rolled back from its journal, its stopped containers started
   * again; partial restores (never swapped in) removed. Says what it found and did, per volume.
   */
  async recoverInterrupted(
    env: string,
    volumes: readonly SwappedVolume[],
  ): Promise<RestoreReport["volumes"]> {
    const out: RestoreReport["volumes"] = [];
    for (const v of volumes) {
      let j: SwapJournal | undefined;
      try {
        j = readSwapJournal(v.device);
      } catch (e) {
        out.push({ volume: v.name, action: "failed", detail: (e as Error).message });
        continue;
      }
      if (j) {
        const settled = await this.settle(env, j);
        if (!hasSwapJournal(v.device)) out.push(settled);
        else {
          // Unsettled: its restored copy may be the only whole one, so it is left where it is;
          // said once per agent process, not at every pass.
          const key = `${v.device} ${j.at}`;
          if (!this.unsettledSaid.has(key)) out.push(settled);
          this.unsettledSaid.add(key);
          continue;
        }
      }
      const partial = removeStaleRestores(v.device);
      if (partial.length > 0)
        out.push({
          volume: v.name,
          action: "kept",
          detail: `a restore cut off before its swap left ${partial.map((p) => basename(p)).join(", ")}: removed it; the volume kept its data`,
        });
    }
    for (const e of out)
      this.d.log[e.action === "failed" ? "error" : "warn"](
        { environment: env, ...e },
        "interrupted restore settled",
      );
    return out;
  }

  /**
   * recoverInterrupted under the backup lock, noted in `b`'s restore report when given: what it
   * settled, or nothing when a restore holds the lock (that restore settles them itself).
   */
  async settleInterrupted(
    env: string,
    volumes: readonly SwappedVolume[],
    b: NodeBackup | undefined,
  ): Promise<RestoreReport["volumes"]> {
    if (!interruptedRestore(volumes)) return [];
    let lock: Lock;
    try {
      lock = this.lock(env);
    } catch (e) {
      if (e instanceof LockHeldError) return [];
      throw e;
    }
    try {
      const settled = await this.recoverInterrupted(env, volumes);
      if (b) this.noteRecovery(env, b, settled);
      return settled;
    } finally {
      lock.release();
    }
  }

  /** Records what recoverInterrupted did as the environment's restore report. */
  noteRecovery(env: string, b: NodeBackup, volumes: RestoreReport["volumes"]): void {
    if (volumes.length === 0) return;
    this.update(env, b, (r) => ({
      ...r,
      restore: { at: this.now().toISOString(), reason: "operator", volumes },
    }));
  }
}
