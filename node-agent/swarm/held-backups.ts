// A volume holder's backup jobs on a node group (backup-pass.ts says where the orders come from):
// the scheduled backups of the volumes it holds, against its own engine's volumes, with the
// single node's restic code (backup/backups.ts) and its own record under
// <stateRoot>/swarm/environments/<env>/backup.json; the outcome in the node's signed status of the
// environment. Before the node joins the swarm, its volumes are restored (the single node's
// restore before a first apply): created on its engine, each empty one filled from its newest
// snapshot, once per order.
import { describeError } from "../../lib/errors";
import { type Logger, registerSecret } from "../../lib/log";
import type { Backups } from "../backup/backups";
import type { DockerRunner } from "../docker";
import { createHeldVolumes, type HeldBackupOrders, type HeldOrder, nodeBackupOf } from "./backup-pass";

export interface HeldBackupJobsDeps {
  orders: HeldBackupOrders;
  /** The single node's backups, with this node's held records (stateRoot <stateRoot>/swarm). */
  backups: Backups;
  docker: DockerRunner;
  log: Logger;
  /** Puts the environment's backup state into the node's status (the order's release). */
  report: (env: string, sequence: number) => Promise<void>;
}

export class HeldBackupJobs {
  /** The orders whose volumes were restored before a join: `<group>/<env>@<sequence>`. */
  private readonly restored = new Set<string>();

  constructor(private readonly d: HeldBackupJobsDeps) {}

  private held(): HeldOrder[] {
    return this.d.orders.held((env, detail) =>
      this.d.log.error({ environment: env, err: detail }, "a kept backup order does not open"),
    );
  }

  /** The environments whose volumes this node holds (their statuses heartbeat). */
  environments(): string[] {
    return [...new Set(this.held().map((h) => h.environmentId))];
  }

  status(env: string) {
    return this.d.backups.status(env);
  }

  private secretsOf(h: HeldOrder): Record<string, string> {
    for (const v of Object.values(h.held.secrets)) registerSecret(v);
    return h.held.secrets;
  }

  /** Runs the backups (and, on the maintainer, the prunes and checks) that are due. */
  async tick(): Promise<void> {
    for (const h of this.held()) {
      const env = h.environmentId;
      try {
        const b = await nodeBackupOf(this.d.docker, env, h.held.backup);
        if (await this.d.backups.tick(env, b, this.secretsOf(h), { maintain: h.held.maintains }))
          await this.d.report(env, h.sequence);
      } catch (e) {
        this.d.log.error({ environment: env, err: describeError(e) }, "held backup pass failed");
      }
    }
  }

  /** The held order of `env`, or an error saying this node holds none of its volumes. */
  private require(env: string): HeldOrder {
    const h = this.held().find((x) => x.environmentId === env);
    if (!h) throw new Error(`this node holds no volume of ${env} (no backup order for it)`);
    return h;
  }

  /** Runs `f` with this node's part of `env`'s backups under the backup lock, then reports. */
  private async locked<T>(
    env: string,
    f: (b: Awaited<ReturnType<typeof nodeBackupOf>>, secrets: Record<string, string>) => Promise<T>,
  ): Promise<T> {
    const h = this.require(env);
    const lock = this.d.backups.lock(env);
    try {
      return await f(await nodeBackupOf(this.d.docker, env, h.held.backup), this.secretsOf(h));
    } finally {
      lock.release();
      await this.d.report(env, h.sequence);
    }
  }

  /** Backs the held volumes of `env` (or the given ones) up now (`berth-agent backup ENV` on the holder). */
  backupNow(env: string, volumes?: string[]) {
    return this.locked(env, (b, secrets) => this.d.backups.backupNow(env, b, secrets, volumes));
  }

  /**
   * `berth-agent prune ENV` on the holder: the declared retention applied now to the snapshots of
   * the volumes it holds (each volume's own tag; another holder's volumes are its own).
   */
  pruneNow(env: string) {
    return this.locked(env, (b, secrets) => this.d.backups.prune(env, b, secrets));
  }

  /** `berth-agent check ENV` on the holder: `restic check` of the group's repository now. */
  checkNow(env: string) {
    return this.locked(env, (b, secrets) => this.d.backups.check(env, b, secrets));
  }

  /** `berth-agent snapshots ENV` on the holder: the repository's snapshots of the environment. */
  async snapshots(env: string) {
    const h = this.require(env);
    const b = await nodeBackupOf(this.d.docker, env, h.held.backup);
    return this.d.backups.snapshots(env, this.d.backups.access(b, this.secretsOf(h)));
  }

  /**
   * Before this node joins `group`'s swarm: each held volume created on the engine, and every
   * empty one filled from its newest snapshot (a volume with data is kept). The reason it must
   * not join yet, or undefined.
   */
  async restoreBeforeJoin(group: string): Promise<string | undefined> {
    const problems: string[] = [];
    for (const h of this.held().filter((x) => x.group === group)) {
      const key = `${group}/${h.environmentId}@${h.sequence}`;
      if (!h.held.backup.restoreOnFirstApply || this.restored.has(key)) continue;
      const env = h.environmentId;
      let lock: ReturnType<Backups["lock"]>;
      try {
        lock = this.d.backups.lock(env);
      } catch (e) {
        problems.push(`${env}: ${describeError(e)}`);
        continue;
      }
      try {
        await createHeldVolumes(this.d.docker, env, h.held.backup);
        const b = await nodeBackupOf(this.d.docker, env, h.held.backup);
        const report = await this.d.backups.restore(env, b, this.secretsOf(h), { reason: "first-apply" });
        const failed = report.volumes.filter((v) => v.action === "failed");
        if (failed.length > 0) problems.push(...failed.map((v) => `${env}: ${v.volume}: ${v.detail}`));
        else this.restored.add(key);
      } catch (e) {
        problems.push(`${env}: ${describeError(e)}`);
      } finally {
        lock.release();
      }
      await this.d.report(env, h.sequence).catch(() => undefined);
    }
    return problems.length > 0
      ? `not joining before the volumes it holds are restored: ${problems.join("; ")}`
      : undefined;
  }
}
