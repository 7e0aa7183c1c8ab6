// A volume holder's backup jobs on a node group (backup-pass.ts says where the orders come from):
// the scheduled backups of the volumes it holds, against its own engine's volumes, with the
// single node's restic code (backup/backups.ts) and its own record under
// <stateRoot>/swarm/environments/<env>/backup.json; the outcome in the node's signed status of the
// environment. Before the node joins the swarm, its volumes are restored (the single node's
// restore before a first apply): created on its engine, each empty one filled from its newest
// snapshot, once per order.
import { randomBytes } from "node:crypto";
import type { NodeBackup } from "../../contract/backup/schema";
import type { ChannelStore } from "../../contract/channel/store";
import {
  restoreHoldKey,
  restoreRequestKey,
  signRestoreRequest,
  verifyRestoreHold,
} from "../../contract/swarm/restore-hold";
import { describeError } from "../../lib/errors";
import { type Logger, registerSecret } from "../../lib/log";
import type { Backups, RestoreOptions, RestoreReport } from "../backup/backups";
import { newestPerVolume } from "../backup/restic";
import type { DockerRunner } from "../docker";
import {
  createHeldVolumes,
  type HeldBackupOrders,
  type HeldOrder,
  NO_VOLUME_YET,
  nodeBackupOf,
} from "./backup-pass";

export interface HeldBackupJobsDeps {
  orders: HeldBackupOrders;
  /** The single node's backups, with this node's held records (stateRoot <stateRoot>/swarm). */
  backups: Backups;
  docker: DockerRunner;
  log: Logger;
  /** Puts the environment's backup state into the node's status (the order's release). */
  report: (env: string, sequence: number) => Promise<void>;
  /**
   * An operator's restore asks the leader to stop the services pinned here, through the channel
   * (contract/swarm/restore-hold.ts); absent: restores on this node are refused.
   */
  restoreHold?: {
    channel: ChannelStore;
    nodeId: string;
    statusPrivateKey: string;
    /** How long the leader may take to stop (or start again) the services. */
    timeoutMs: number;
    pollMs?: number;
  };
}

export class HeldBackupJobs {
  /** The orders whose volumes were restored before a join: `<group>/<env>@<sequence>`. */
  private readonly restored = new Set<string>();
  /**
   * Each order's volumes with their folders, once every folder is known (`<group>/<env>`, the
   * order's sequence beside it): a volume's folder is fixed by its name (or the disk its order
   * binds it to), so the scheduled pass asks the engine once per order, not once per poll.
   */
  private readonly folders = new Map<string, { sequence: number; backup: NodeBackup }>();

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

  /** The order's volumes with their folders on this engine (kept once all are known). */
  private async folderedBackup(h: HeldOrder): Promise<NodeBackup> {
    const key = `${h.group}/${h.environmentId}`;
    const kept = this.folders.get(key);
    if (kept?.sequence === h.sequence) return kept.backup;
    const b = await nodeBackupOf(this.d.docker, h.environmentId, h.held.backup);
    if (b.volumes.every((v) => !v.device.startsWith(NO_VOLUME_YET)))
      this.folders.set(key, { sequence: h.sequence, backup: b });
    else this.folders.delete(key);
    return b;
  }

  /** Runs the backups (and, on the maintainer, the prunes and checks) that are due. */
  async tick(): Promise<void> {
    const held = this.held();
    for (const key of this.folders.keys())
      if (!held.some((h) => `${h.group}/${h.environmentId}` === key)) this.folders.delete(key);
    for (const h of held) {
      const env = h.environmentId;
      try {
        const b = await this.folderedBackup(h);
        await this.settleInterrupted(env, b, h.sequence);
        if (await this.d.backups.tick(env, b, this.secretsOf(h), { maintain: h.held.maintains }))
          await this.d.report(env, h.sequence);
      } catch (e) {
        this.d.log.error({ environment: env, err: describeError(e) }, "held backup pass failed");
      }
    }
  }

  /**
   * A restore here cut off during its swap (backup/swap.ts): settled at the next pass, under the
   * backup lock (left to a restore that still holds it), and reported. The leader starts the
   * services it stopped for the restore when the request expires.
   */
  private async settleInterrupted(env: string, b: NodeBackup, sequence: number): Promise<void> {
    const settled = await this.d.backups.settleInterrupted(env, b.volumes, b);
    if (settled.length > 0) await this.d.report(env, sequence);
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
   * `berth-agent restore ENV [--snapshot ID] [--volume V] [--force]` on the holder. The snapshots
   * to restore are chosen first; then the leader stops the services pinned here (its signed hold
   * for this request); the data there is snapshotted (so what the restore replaces stays
   * recoverable); the single node's restore swaps it (a volume whose data is newer than the
   * snapshot only with `force`); and the leader starts the services again.
   */
  async restore(env: string, o: Omit<RestoreOptions, "reason">): Promise<RestoreReport> {
    const c = this.d.restoreHold;
    if (!c) throw new Error("this agent cannot ask the group's leader to stop the services: no channel");
    const h = this.require(env);
    const lock = this.d.backups.lock(env);
    const report: RestoreReport = { at: new Date().toISOString(), reason: "operator", volumes: [] };
    try {
      const secrets = this.secretsOf(h);
      const b = await nodeBackupOf(this.d.docker, env, h.held.backup);
      const all = await this.d.backups.snapshots(env, this.d.backups.access(b, secrets));
      // Chosen before anything changes: the snapshot taken below would be the newest.
      const targets: { volume: string; snapshot: string }[] = [];
      if (o.snapshot) {
        const wanted = o.snapshot;
        const s = all.find((x) => x.id === wanted || x.shortId === wanted || x.id.startsWith(wanted));
        if (!s?.volume || !b.volumes.some((v) => v.name === s.volume))
          throw new Error(
            s
              ? `snapshot ${wanted} holds volume ${s.volume ?? "?"}, which this node does not hold of ${env}`
              : `no snapshot ${wanted} of ${env} in ${b.repository} (berth-agent snapshots ${env} lists them)`,
          );
        targets.push({ volume: s.volume, snapshot: s.id });
      } else {
        const vols = b.volumes.filter((v) => !o.volume || v.name === o.volume);
        if (o.volume && vols.length === 0) throw new Error(`this node holds no volume ${o.volume} of ${env}`);
        const newest = newestPerVolume(all);
        for (const v of vols) {
          const s = newest.get(v.name);
          if (s) targets.push({ volume: v.name, snapshot: s.id });
          else
            report.volumes.push({
              volume: v.name,
              action: "none",
              detail: `no snapshot of this volume in ${b.repository}`,
            });
        }
      }
      if (targets.length === 0) return report;
      const id = randomBytes(16).toString("hex");
      const request = (state: "stop" | "done") =>
        c.channel.put(
          restoreRequestKey(c.nodeId, env),
          signRestoreRequest(
            { group: h.group, environmentId: env, nodeId: c.nodeId, id, state },
            c.statusPrivateKey,
          ),
        );
      const held = async (stopped: boolean): Promise<string | undefined> => {
        const deadline = Date.now() + c.timeoutMs;
        let why = "no hold from the leader yet";
        for (;;) {
          const text = await c.channel.get(restoreHoldKey(h.group, env));
          if (text !== undefined)
            try {
              const hold = verifyRestoreHold(text, {
                group: h.group,
                environmentId: env,
                leaderStatusKey: h.leaderStatusKey,
                node: c.nodeId,
                request: id,
              });
              if (hold.stopped === stopped) return undefined;
              why = `the leader's hold says the services are ${hold.stopped ? "stopped" : "running"}`;
            } catch (e) {
              why = describeError(e);
            }
          if (Date.now() >= deadline) return why;
          await new Promise((r) => setTimeout(r, c.pollMs ?? 1000));
        }
      };
      await request("stop");
      try {
        const notStopped = await held(true);
        if (notStopped)
          throw new Error(
            `the group's leader did not stop the services pinned to this node within ${Math.round(c.timeoutMs / 1000)} s (${notStopped}): nothing restored`,
          );
        // What the restore replaces stays recoverable: a snapshot of each volume first.
        const before = await this.d.backups.backupNow(
          env,
          b,
          secrets,
          targets.map((t) => t.volume),
        );
        const failed = before.filter((r) => !r.run.ok);
        if (failed.length > 0)
          throw new Error(
            `the snapshot of the data before the restore failed (${failed.map((f) => `${f.volume}: ${f.run.error}`).join("; ")}): nothing restored`,
          );
        for (const t of targets) {
          const r = await this.d.backups.restore(env, b, secrets, {
            reason: "operator",
            snapshot: t.snapshot,
            ...(o.force ? { force: true } : {}),
          });
          const saved = before.find((x) => x.volume === t.volume)?.run.snapshotId;
          report.volumes.push(
            ...r.volumes.map((v) =>
              v.action === "restored" && saved
                ? { ...v, detail: `${v.detail}; the data it replaced is snapshot ${saved}` }
                : v,
            ),
          );
        }
        // The newest snapshot is then what the volume holds again, not the data it replaced
        // (a replaced holder, and a first apply, restore the newest).
        const restored = report.volumes.filter((v) => v.action === "restored").map((v) => v.volume);
        if (restored.length > 0) {
          const after = await this.d.backups.backupNow(env, b, secrets, restored);
          for (const a of after) {
            const v = report.volumes.find((x) => x.volume === a.volume && x.action === "restored");
            if (v)
              v.detail = a.run.ok
                ? `${v.detail}; backed up again as snapshot ${a.run.snapshotId}, the newest`
                : `${v.detail}; backing it up again failed (${a.run.error}): the newest snapshot is still the data it replaced, run berth-agent backup ${env}`;
          }
        }
      } finally {
        await request("done");
        const notResumed = await held(false);
        if (notResumed)
          this.d.log.error(
            { environment: env, err: notResumed },
            "the group's leader has not started the services pinned to this node again",
          );
      }
      return report;
    } finally {
      lock.release();
      await this.d.report(env, h.sequence);
    }
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
