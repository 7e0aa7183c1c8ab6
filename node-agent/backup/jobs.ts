// The backup jobs of the agent: what `berth-agent backup|prune|check|snapshots|restore` and the
// scheduler run, each with the settings and unsealed secrets of the environment's current
// release, under the environment's backup lock, its outcome then put into the status. Also the
// restores an apply asks for: before a new node's first apply, and one requested by the program.
import { dirname } from "node:path";
import type { NodeBackup } from "../../contract/backup/schema";
import { describeError } from "../../lib/errors";
import type { Logger } from "../../lib/log";
import type { MountDisk } from "../disks/mount";
import type { Release } from "../state/release";
import type { ReleaseStore } from "../state/release-store";
import { isSwarmStack } from "../swarm/release";
import {
  BackupError,
  type Backups,
  type RestoreOptions,
  type RestoreReport,
  type SwappedVolume,
} from "./backups";

export interface BackupJobsDeps {
  backups: Backups;
  store: (env: string) => ReleaseStore;
  /** Opens a release's sealed secrets: name → value. */
  unseal: (release: Release) => Record<string, string>;
  /** Puts the environment's backup state into its status. */
  reportBackup: (env: string) => Promise<void>;
  /** The environments this node has state for. */
  environments: () => string[];
  mountDisk: MountDisk;
  log: Logger;
}

/** A release's backup settings with the secrets they name. */
export interface BackupSettings {
  backup: NodeBackup;
  secrets: Record<string, string>;
}

export class BackupJobs {
  constructor(private readonly d: BackupJobsDeps) {}

  /** The backup settings and unsealed secrets of the environment's current release. */
  settingsOf(env: string): BackupSettings | undefined {
    const d = this.declared(env);
    return d ? { backup: d.backup, secrets: this.d.unseal(d.release) } : undefined;
  }

  /** The current release's backup settings, its secrets still sealed. */
  private declared(env: string): { release: Release; backup: NodeBackup } | undefined {
    const store = this.d.store(env);
    const current = store.current();
    if (current === undefined) return undefined;
    // A Swarm stack's backups are the holders' (swarm/held-backups.ts), not the manager's.
    if (isSwarmStack(store.readCompose(current))) return undefined;
    const release = store.release(current);
    const backup = release.extras.backup;
    return backup ? { release, backup } : undefined;
  }

  private require(env: string): BackupSettings {
    const b = this.settingsOf(env);
    if (!b) {
      const current = this.d.store(env).current();
      throw new BackupError(
        current === undefined
          ? `${env} has no applied release on this node, so no backup settings: apply it first`
          : `${env}'s release ${current} declares no backups (backup in the environment's config)`,
      );
    }
    return b;
  }

  /** Runs `f` with the settings under the backup lock, then reports the backup state. */
  private async locked<T>(env: string, f: (b: BackupSettings) => Promise<T>): Promise<T> {
    const settings = this.require(env);
    const lock = this.d.backups.lock(env);
    try {
      return await f(settings);
    } finally {
      lock.release();
      await this.d.reportBackup(env);
    }
  }

  /** Backs the environment's volumes up now (`berth-agent backup ENV`). */
  backupNow(env: string, volumes?: string[]) {
    return this.locked(env, (b) => this.d.backups.backupNow(env, b.backup, b.secrets, volumes));
  }

  /** `forget --prune` with the declared retention now (`berth-agent prune ENV`). */
  pruneNow(env: string) {
    return this.locked(env, (b) => this.d.backups.prune(env, b.backup, b.secrets));
  }

  /** `restic check` now (`berth-agent check ENV`). */
  checkNow(env: string) {
    return this.locked(env, (b) => this.d.backups.check(env, b.backup, b.secrets));
  }

  async snapshots(env: string) {
    const { backup, secrets } = this.require(env);
    return this.d.backups.snapshots(env, this.d.backups.access(backup, secrets));
  }

  /** An operator's restore (`berth-agent restore ENV [--snapshot ID] [--force]`), under the apply lock too. */
  async restore(env: string, o: Omit<RestoreOptions, "reason">): Promise<RestoreReport> {
    const applyLock = this.d.store(env).lock();
    try {
      return await this.locked(env, (b) =>
        this.d.backups.restore(env, b.backup, b.secrets, { ...o, reason: "operator" }),
      );
    } finally {
      applyLock.release();
    }
  }

  /**
   * What a killed restore left beside the environment's volumes (a swap's journal, a partial
   * restore; backup/swap.ts), settled under the backup lock and reported as the environment's
   * restore. Asked at the agent's start, at each backup pass and before each apply (of `release`
   * too, whose volumes may be new); nothing to do costs a folder listing per volume. A restore
   * that still runs holds the lock: left to it.
   */
  async recoverInterrupted(env: string, release?: Release): Promise<void> {
    const store = this.d.store(env);
    const current = store.current();
    // A Swarm stack's volumes are its holders' (swarm/held-backups.ts).
    const mine = current !== undefined && !isSwarmStack(store.readCompose(current));
    const releases = [release, mine ? store.release(current) : undefined].filter(
      (r): r is Release => r !== undefined,
    );
    // Named as the backups name them (extras.volumes holds the Docker volumes' names).
    const volumes = new Map<string, SwappedVolume>();
    for (const r of releases)
      for (const v of r.extras.backup?.volumes ?? [])
        volumes.set(v.device, { name: v.name, device: v.device });
    for (const r of releases)
      for (const v of r.extras.volumes) if (!volumes.has(v.device)) volumes.set(v.device, v);
    const backup = releases.find((r) => r.extras.backup)?.extras.backup;
    const settled = await this.d.backups.settleInterrupted(env, [...volumes.values()], backup);
    if (settled.length > 0) await this.d.reportBackup(env);
  }

  /** Runs the backups, prunes and checks that are due, in every environment that declares them. */
  async tick(): Promise<void> {
    for (const env of this.d.environments()) {
      try {
        await this.recoverInterrupted(env);
        const d = this.declared(env);
        if (!d) continue;
        // The secrets are opened only when a job is due, not at every poll.
        if (await this.d.backups.tick(env, d.backup, () => this.d.unseal(d.release)))
          await this.d.reportBackup(env);
      } catch (e) {
        this.d.log.error({ environment: env, err: describeError(e) }, "backup pass failed");
      }
    }
  }

  /**
   * A restore asked through the program (`backup.restore`): run once, after the release that
   * first carries the request applied; its result goes into the status (and the Release fails
   * `pulumi up` when a volume was not restored).
   */
  async requestedRestore(env: string, release: Release): Promise<void> {
    const backup = release.extras.backup;
    const req = backup?.restore;
    if (!backup || !req) return;
    const key = JSON.stringify(req);
    if (this.d.backups.record(env).read(new Date()).lastRequest === key) return;
    const lock = this.d.backups.lock(env);
    try {
      await this.d.backups.restore(env, backup, this.d.unseal(release), {
        reason: "operator",
        ...(req.snapshot ? { snapshot: req.snapshot } : {}),
        ...(req.volume ? { volume: req.volume } : {}),
        force: req.force,
      });
    } catch (e) {
      this.d.backups.noteRestoreFailure(env, backup, describeError(e));
    } finally {
      this.d.backups.markRequest(env, backup, key);
      lock.release();
    }
  }

  /**
   * Before a node's first apply of the environment (a replacement, or a local node whose state
   * folder was removed): fills its empty volumes from their newest snapshots. Returns why it
   * failed (the release must then not start: an app must not start on empty volumes while its
   * data sits in a backup), or undefined.
   */
  async restoreBeforeFirstApply(
    env: string,
    release: Release,
    backup: NodeBackup,
  ): Promise<string | undefined> {
    const lock = this.d.backups.lock(env);
    try {
      // A cloud volume's disk is mounted first: a reattached disk's data is seen (and kept), and
      // a restore lands on the disk, not under its mount point.
      for (const v of release.extras.volumes) {
        if (v.disk) await this.d.mountDisk(v.disk, dirname(v.device));
      }
      const report = await this.d.backups.restore(env, backup, this.d.unseal(release), {
        reason: "first-apply",
      });
      const failed = report.volumes.filter((v) => v.action === "failed");
      if (failed.length === 0) return undefined;
      throw new BackupError(failed.map((v) => `${v.volume}: ${v.detail}`).join("; "));
    } catch (e) {
      return describeError(e);
    } finally {
      lock.release();
    }
  }
}
