// The agent: publishes the node's identity, then converges each environment the channel names
// for this node to its desired release, and reports how it went. Crash-safe: at start it
// cleans up what a killed apply left behind before converging again.
import { createHash } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { parse } from "yaml";
import type { NodeBackup } from "../contract/backup/schema";
import { channelKeys, environmentsFromKeys } from "../contract/channel/layout";
import { desiredPointer, type EnvironmentStatus, environmentStatus } from "../contract/channel/status";
import type { ChannelStore } from "../contract/channel/store";
import {
  type ReleasePayload,
  releaseEnvelopeSchema,
  TrustedKeys,
  unsealSecrets,
  verifyRelease,
} from "../contract/payload";
import { tlsBundlesFromSecrets } from "../contract/release/tls";
import { readNodeExtras } from "../contract/render/node-compose";
import { type Logger, registerSecret, scrubSecrets } from "../lib/log";
import { Applier, type ApplyOutcome, describeError, routeKeys } from "./apply/apply";
import { parseReleaseProject, planApply, releaseProject, statefulProject } from "./apply/plan";
import type { ProxyControl } from "./apply/proxy-control";
import { BackupError, Backups, type RestoreOptions, type RestoreReport } from "./backup/backups";
import type { ChannelChanges } from "./channel-watch";
import * as compose from "./compose/commands";
import type { AgentConfig } from "./config";
import { diskMounter, type MountDisk } from "./disks/mount";
import type { DockerRunner } from "./docker";
import { loadOrCreateNodeKeys } from "./node-keys";
import { type ReleaseMetadata, ReleaseStore } from "./state/release-store";
import { AGENT_VERSION } from "./version";
import type { WorkspaceSync } from "./workspace/sync";

export interface AgentDeps {
  config: AgentConfig;
  channel: ChannelStore;
  docker: DockerRunner;
  proxy: ProxyControl & { routesOf?(env: string): { environmentId: string; host: string; path?: string }[] };
  log: Logger;
  /** Called at each apply step (fault injection in tests). */
  onStep?: (step: string) => Promise<void> | void;
  /** Change notifications of the channel (a watched folder): each one starts a poll at once. */
  changes?: ChannelChanges;
  /** Devcontainer workspaces declared for this node (brought up in the background). */
  workspaces?: WorkspaceSync;
}

export class Agent {
  private readonly keys: { publicKey: string; privateKey: string };
  private readonly trusted: TrustedKeys;
  private readonly applier: Applier;
  private readonly mountDisk: MountDisk;
  readonly backups: Backups;
  /** The last refused release per environment, so it is reported once, not at every poll. */
  private readonly rejected = new Map<string, string>();

  constructor(private readonly d: AgentDeps) {
    this.keys = loadOrCreateNodeKeys(d.config.stateRoot);
    this.trusted = new TrustedKeys(d.config.trustedKeys);
    this.mountDisk = diskMounter({
      fstabPath: d.config.disks.fstabPath,
      deviceTimeoutMs: d.config.disks.deviceTimeoutSeconds * 1000,
      log: d.log,
    });
    this.applier = new Applier({
      docker: d.docker,
      proxy: d.proxy,
      log: d.log,
      healthTimeoutSeconds: d.config.healthTimeoutSeconds,
      drainSeconds: d.config.drainSeconds,
      ...(d.onStep ? { onStep: d.onStep } : {}),
      mountDisk: this.mountDisk,
      unseal: (p) => this.unseal(p),
    });
    this.backups = new Backups({
      stateRoot: d.config.stateRoot,
      docker: d.docker,
      log: d.log,
      resticPath: d.config.resticPath,
      restarted: (env) => this.repointProxy(env),
    });
  }

  get nodeId(): string {
    return this.d.config.nodeId;
  }

  get publicKey(): string {
    return this.keys.publicKey;
  }

  store(env: string): ReleaseStore {
    return new ReleaseStore(this.d.config.stateRoot, env);
  }

  private unseal(p: ReleasePayload): Record<string, string> {
    const out = Object.fromEntries(unsealSecrets(p, this.keys.privateKey));
    for (const v of Object.values(out)) registerSecret(v);
    return out;
  }

  async publishIdentity(): Promise<void> {
    await this.d.channel.put(
      channelKeys.identity(this.nodeId),
      `${JSON.stringify(
        {
          formatVersion: 1,
          nodeId: this.nodeId,
          publicKey: this.keys.publicKey,
          agentVersion: AGENT_VERSION,
          publishedAt: new Date().toISOString(),
        },
        null,
        2,
      )}\n`,
    );
  }

  /** Environments this node has state for. */
  localEnvironments(): string[] {
    const dir = join(this.d.config.stateRoot, "environments");
    return existsSync(dir) ? readdirSync(dir).filter((n) => /^[a-z0-9][a-z0-9-]{0,62}$/.test(n)) : [];
  }

  async report(
    status: Omit<EnvironmentStatus, "formatVersion" | "nodeId" | "updatedAt" | "backup">,
  ): Promise<void> {
    const removed = status.state === "removed";
    const backup = removed ? undefined : this.backups.status(status.environmentId);
    const releases = removed ? [] : this.history(status.environmentId);
    const full: EnvironmentStatus = {
      formatVersion: 1,
      nodeId: this.nodeId,
      updatedAt: new Date().toISOString(),
      ...status,
      ...(releases.length > 0 ? { releases } : {}),
      ...(backup ? { backup } : {}),
    };
    await this.d.channel.put(
      channelKeys.status(this.nodeId, status.environmentId),
      `${JSON.stringify(scrubSecrets(full), null, 2)}\n`,
    );
  }

  /** The releases this node keeps of the environment, with their outcomes. */
  history(env: string): NonNullable<EnvironmentStatus["releases"]> {
    const store = this.store(env);
    return store.sequences().map((seq) => {
      const m = store.readMetadata(seq);
      return {
        sequence: seq,
        ...(m.outcome ? { outcome: m.outcome } : {}),
        ...(m.appliedAt ? { appliedAt: m.appliedAt } : {}),
        ...(m.error ? { error: m.error } : {}),
      };
    });
  }

  /** Puts the environment's backup state into its status in the channel (the rest unchanged). */
  async reportBackup(env: string): Promise<void> {
    const backup = this.backups.status(env);
    if (!backup) return;
    const key = channelKeys.status(this.nodeId, env);
    const text = await this.d.channel.get(key);
    const prev = text ? environmentStatus.safeParse(JSON.parse(text)) : undefined;
    const current = this.store(env).current();
    const base: EnvironmentStatus = prev?.success
      ? prev.data
      : {
          formatVersion: 1,
          nodeId: this.nodeId,
          environmentId: env,
          ...(current !== undefined ? { appliedSequence: current } : {}),
          state: current !== undefined ? "applied" : "applying",
          services: [],
          updatedAt: "",
        };
    await this.d.channel.put(
      key,
      `${JSON.stringify(scrubSecrets({ ...base, backup, updatedAt: new Date().toISOString() }), null, 2)}\n`,
    );
  }

  /** The backup settings and unsealed secrets of the environment's current release. */
  backupOf(env: string): { backup: NodeBackup; secrets: Record<string, string> } | undefined {
    const store = this.store(env);
    const current = store.current();
    if (current === undefined) return undefined;
    const payload = this.payloadOf(store, current);
    const backup = readNodeExtras(parse(payload.compose.text)).backup;
    return backup ? { backup, secrets: this.unseal(payload) } : undefined;
  }

  private requireBackup(env: string): { backup: NodeBackup; secrets: Record<string, string> } {
    const b = this.backupOf(env);
    if (!b) {
      const current = this.store(env).current();
      throw new BackupError(
        current === undefined
          ? `${env} has no applied release on this node, so no backup settings: apply it first`
          : `${env}'s release ${current} declares no backups (backup in the environment's config)`,
      );
    }
    return b;
  }

  /** Backs the environment's volumes up now (`berth-agent backup ENV`). */
  async backupNow(env: string, volumes?: string[]) {
    const { backup, secrets } = this.requireBackup(env);
    const lock = this.backups.lock(env);
    try {
      return await this.backups.backupNow(env, backup, secrets, volumes);
    } finally {
      lock.release();
      await this.reportBackup(env);
    }
  }

  /** `forget --prune` with the declared retention now (`berth-agent prune ENV`). */
  async pruneNow(env: string) {
    return this.withBackupLock(env, (b, s) => this.backups.prune(env, b, s));
  }

  /** `restic check` now (`berth-agent check ENV`). */
  async checkNow(env: string) {
    return this.withBackupLock(env, (b, s) => this.backups.check(env, b, s));
  }

  private async withBackupLock<T>(
    env: string,
    f: (b: NodeBackup, secrets: Record<string, string>) => Promise<T>,
  ): Promise<T> {
    const { backup, secrets } = this.requireBackup(env);
    const lock = this.backups.lock(env);
    try {
      return await f(backup, secrets);
    } finally {
      lock.release();
      await this.reportBackup(env);
    }
  }

  async snapshots(env: string) {
    const { backup, secrets } = this.requireBackup(env);
    return this.backups.snapshots(env, this.backups.access(backup, secrets));
  }

  /** An operator's restore (`berth-agent restore ENV [--snapshot ID] [--force]`). */
  async restore(env: string, o: Omit<RestoreOptions, "reason">): Promise<RestoreReport> {
    const { backup, secrets } = this.requireBackup(env);
    const applyLock = this.store(env).lock();
    try {
      const lock = this.backups.lock(env);
      try {
        return await this.backups.restore(env, backup, secrets, { ...o, reason: "operator" });
      } finally {
        lock.release();
      }
    } finally {
      applyLock.release();
      await this.reportBackup(env);
    }
  }

  /** Runs the backups, prunes and checks that are due, in every environment that declares them. */
  async backupTick(): Promise<void> {
    for (const env of this.localEnvironments()) {
      try {
        const b = this.backupOf(env);
        if (!b) continue;
        if (await this.backups.tick(env, b.backup, b.secrets)) await this.reportBackup(env);
      } catch (e) {
        this.d.log.error({ environment: env, err: describeError(e) }, "backup pass failed");
      }
    }
  }

  /**
   * After a crash: removes containers of release projects other than the current one (a half
   * started release), and points the proxy back at the current release.
   */
  async recover(env: string): Promise<void> {
    const store = this.store(env);
    const current = store.current();
    const ps = await this.d.docker(compose.containersOfEnvironment(env));
    const stray: string[] = [];
    for (const line of ps.stdout.split("\n")) {
      const [id, project] = line.split("\t");
      if (!id || !project) continue;
      const seq = parseReleaseProject(env, project);
      if (seq !== undefined && seq !== current) stray.push(id);
      if (project === statefulProject(env) && current === undefined) stray.push(id);
    }
    await this.repointProxy(env);
    if (stray.length > 0) {
      this.d.log.warn(
        { environment: env, containers: stray.length },
        "removing containers of an unfinished release",
      );
      await this.d.docker(compose.removeContainers(stray));
    }
  }

  /**
   * Points the proxy at the ports the current release's containers publish now (a container
   * that was stopped and started again, by a crash or a backup hook, got new host ports).
   */
  async repointProxy(env: string): Promise<void> {
    const store = this.store(env);
    const current = store.current();
    if (current === undefined) return;
    const payload = this.payloadOf(store, current);
    const plan = planApply(readNodeExtras(parse(payload.compose.text)));
    const file = store.composePath(current);
    const routes = routeKeys(env, payload);
    await this.d.proxy.ensureRoutes(routes);
    await this.d.proxy.installCertificates(env, tlsBundlesFromSecrets(this.unseal(payload)));
    for (const [i, r] of payload.routes.entries()) {
      const out = await this.d.docker(
        compose.port({ project: plan.projectOf[r.service] as string, file }, r.service, r.port),
        { allowFailure: true },
      );
      if (out.exitCode !== 0) continue;
      await this.d.proxy.switchRoute(
        routes[i] as (typeof routes)[number],
        compose.parsePortOutput(out.stdout),
      );
    }
  }

  private payloadOf(store: ReleaseStore, seq: number): ReleasePayload {
    return releaseEnvelopeSchema.parse(JSON.parse(store.readPayload(seq))).payload;
  }

  /** Brings one environment to its desired release. */
  async converge(env: string, desired: number): Promise<ApplyOutcome | undefined> {
    const store = this.store(env);
    const current = store.current();
    if (current === desired) {
      const meta = store.readMetadata(desired);
      if (meta.outcome === undefined) await this.finishInterrupted(env, store, desired);
      return undefined;
    }
    let resuming = false;
    let rollingBack: ReleaseMetadata["rollingBack"];
    if (store.has(desired)) {
      const meta = store.readMetadata(desired);
      // Tried already and reported: wait for a newer release. A pointer back to an older one
      // is a replay, and goes through verification below to be refused as such.
      if (meta.outcome !== undefined && desired >= (current ?? 0)) return undefined;
      resuming = meta.outcome === undefined; // an apply that a crash interrupted
      if (resuming) rollingBack = meta.rollingBack; // ... maybe during its rollback
    }
    let text: string;
    if (resuming) {
      text = store.readPayload(desired);
    } else {
      const fetched = await this.d.channel.get(channelKeys.release(this.nodeId, env, desired));
      if (fetched === undefined) {
        this.d.log.warn({ environment: env, sequence: desired }, "desired release not in the channel yet");
        return undefined;
      }
      text = fetched;
    }
    const fingerprint = `${desired}:${createHash("sha256").update(text).digest("hex")}`;
    if (this.rejected.get(env) === fingerprint) return undefined; // refused and reported already
    let payload: ReleasePayload;
    try {
      const floor = resuming ? (current ?? 0) : Math.max(current ?? 0, store.highestSeen());
      payload = verifyRelease(text, {
        trustedKeys: this.trusted,
        environmentId: env,
        nodeId: this.nodeId,
        appliedSequence: floor,
      }).payload;
    } catch (e) {
      const reason = describeError(e); // a ReleaseVerificationError starts with its code
      this.d.log.warn({ environment: env, sequence: desired, reason }, "release rejected");
      this.rejected.set(env, fingerprint);
      await this.report({
        environmentId: env,
        ...(current !== undefined ? { appliedSequence: current } : {}),
        attemptedSequence: desired,
        state: "rejected",
        error: `release ${desired} was rejected: ${reason}`,
        services: [],
      });
      return undefined;
    }
    const lock = store.lock();
    try {
      if (!resuming) {
        store.save(desired, {
          payload: text,
          compose: payload.compose.text,
          metadata: {
            sequence: desired,
            receivedAt: new Date().toISOString(),
            project: releaseProject(env, desired),
          },
        });
      }
      await this.report({
        environmentId: env,
        ...(current !== undefined ? { appliedSequence: current } : {}),
        attemptedSequence: desired,
        state: "applying",
        services: [],
      });
      const backup = readNodeExtras(parse(payload.compose.text)).backup;
      // A new node restores the volumes first; the apply readies networks, volumes and images
      // meanwhile and starts nothing until the restore has ended (a failed one is the outcome).
      let restoreFailed: ApplyOutcome | undefined;
      const restoring =
        current === undefined && !rollingBack && backup?.restoreOnFirstApply && backup.volumes.length > 0
          ? this.restoreBeforeFirstApply(env, payload, backup).then((failed) => (restoreFailed = failed))
          : undefined;
      let outcome: ApplyOutcome;
      if (rollingBack) {
        // Killed while rolling back: make sure the proxy serves the current release and the
        // failed one's containers are gone, then finish the rollback; never retry the release.
        await this.recover(env);
        outcome = await this.applier.resumeRollback(store, payload, rollingBack);
      } else {
        outcome = await this.applier.apply(store, payload, restoring);
        // Reported already, and not recorded as the release's outcome: the next pass tries again.
        if (restoreFailed) return restoreFailed;
      }
      if (outcome.state === "applied" && backup?.restore) await this.requestedRestore(env, payload, backup);
      const { rollingBack: _done, ...meta } = store.readMetadata(desired);
      store.writeMetadata({
        ...meta,
        outcome: outcome.state,
        appliedAt: new Date().toISOString(),
        ...(outcome.error ? { error: outcome.error } : {}),
      });
      const applied = store.current();
      await this.report({
        environmentId: env,
        ...(applied !== undefined ? { appliedSequence: applied } : {}),
        attemptedSequence: desired,
        state: outcome.state,
        ...(outcome.error ? { error: outcome.error } : {}),
        ...(outcome.logTail ? { logTail: outcome.logTail } : {}),
        services: outcome.services,
      });
      store.prune(this.d.config.keepReleases);
      return outcome;
    } finally {
      lock.release();
    }
  }

  /**
   * A restore asked through the program (`backup.restore`): run once, after the release that
   * first carries the request applied; its result goes into the status (and the Release fails
   * `pulumi up` when a volume was not restored).
   */
  private async requestedRestore(env: string, payload: ReleasePayload, backup: NodeBackup): Promise<void> {
    const req = backup.restore;
    if (!req) return;
    const key = JSON.stringify(req);
    if (this.backups.record(env).read(new Date()).lastRequest === key) return;
    const lock = this.backups.lock(env);
    try {
      await this.backups.restore(env, backup, this.unseal(payload), {
        reason: "operator",
        ...(req.snapshot ? { snapshot: req.snapshot } : {}),
        ...(req.volume ? { volume: req.volume } : {}),
        force: req.force,
      });
    } catch (e) {
      this.backups.noteRestoreFailure(env, backup, describeError(e));
    } finally {
      this.backups.markRequest(env, backup, key);
      lock.release();
    }
  }

  /**
   * A node that has never applied the environment (a replacement, or a local node whose state
   * folder was removed): fill its empty volumes from their newest snapshots first. When the
   * repository cannot be read, the release is not applied (an app must not start on empty
   * volumes while its data sits in a backup), reported as failed, and tried again next pass.
   */
  private async restoreBeforeFirstApply(
    env: string,
    payload: ReleasePayload,
    backup: NodeBackup,
  ): Promise<ApplyOutcome | undefined> {
    const lock = this.backups.lock(env);
    try {
      // A cloud volume's disk is mounted first: a reattached disk's data is seen (and kept), and
      // a restore lands on the disk, not under its mount point.
      for (const v of readNodeExtras(parse(payload.compose.text)).volumes) {
        if (v.disk) await this.mountDisk(v.disk, dirname(v.device));
      }
      const report = await this.backups.restore(env, backup, this.unseal(payload), { reason: "first-apply" });
      const failed = report.volumes.filter((v) => v.action === "failed");
      if (failed.length === 0) return undefined;
      throw new BackupError(failed.map((v) => `${v.volume}: ${v.detail}`).join("; "));
    } catch (e) {
      const error = `release ${payload.sequence} was not applied: restoring the volumes from ${backup.repository} before the first apply failed: ${describeError(e)} (fix the backup settings, or set backup.restoreOnFirstApply to false to start without the data)`;
      this.d.log.error({ environment: env, sequence: payload.sequence, error }, "restore failed");
      await this.report({
        environmentId: env,
        attemptedSequence: payload.sequence,
        state: "failed",
        error,
        services: [],
      });
      return { state: "failed", sequence: payload.sequence, error, services: [] };
    } finally {
      lock.release();
    }
  }

  /**
   * The agent was killed after the release took over traffic but before it said so: stop any
   * older release still running, record the outcome and report.
   */
  private async finishInterrupted(env: string, store: ReleaseStore, seq: number): Promise<void> {
    for (const old of store.sequences().filter((s) => s !== seq)) {
      await this.d.docker(compose.down(releaseProject(env, old)), {
        allowFailure: true,
      });
    }
    store.writeMetadata({
      ...store.readMetadata(seq),
      outcome: "applied",
      appliedAt: new Date().toISOString(),
    });
    await this.report({
      environmentId: env,
      appliedSequence: seq,
      attemptedSequence: seq,
      state: "applied",
      services: [],
    });
  }

  /** An operator's rollback: applies an earlier, already verified release again. */
  async reapply(env: string, payload: ReleasePayload): Promise<ApplyOutcome> {
    const store = this.store(env);
    const lock = store.lock();
    try {
      const cur = store.current();
      const outcome = await this.applier.apply(store, payload);
      const { rollingBack: _done, ...meta } = store.readMetadata(payload.sequence);
      store.writeMetadata(meta); // a failed operator rollback is over: nothing to resume
      if (outcome.state === "applied" && cur !== undefined && cur !== payload.sequence) {
        store.writeMetadata({
          ...store.readMetadata(cur),
          outcome: "rolled-back",
          error: `an operator rolled back to release ${payload.sequence}`,
        });
      }
      const applied = store.current();
      await this.report({
        environmentId: env,
        ...(applied !== undefined ? { appliedSequence: applied } : {}),
        attemptedSequence: payload.sequence,
        state: outcome.state,
        ...(outcome.error ? { error: outcome.error } : {}),
        services: outcome.services,
      });
      return outcome;
    } finally {
      lock.release();
    }
  }

  /** Stops an environment that is no longer desired; its volumes and data stay. */
  async teardown(env: string): Promise<void> {
    const store = this.store(env);
    const current = store.current();
    const lock = store.lock();
    try {
      if (current !== undefined) {
        for (const route of this.d.proxy.routesOf?.(env) ?? []) await this.d.proxy.removeRoute(route);
        await this.d.proxy.installCertificates(env, []);
        await this.d.docker(compose.down(releaseProject(env, current)), {
          allowFailure: true,
        });
        await this.d.docker(compose.down(statefulProject(env)), {
          allowFailure: true,
        });
        const extras = readNodeExtras(parse(store.readCompose(current)));
        for (const n of extras.networks) {
          await this.d.docker({ file: "docker", args: ["network", "rm", n.name] }, { allowFailure: true });
        }
      }
      store.setCurrent(undefined);
    } finally {
      lock.release();
    }
    await this.report({ environmentId: env, state: "removed", services: [] });
    const { rmSync } = await import("node:fs");
    rmSync(store.dir, { recursive: true, force: true });
  }

  /** One pass: converge every desired environment, tear down the ones no longer desired. */
  async pollOnce(): Promise<void> {
    const keys = await this.d.channel.list(channelKeys.environmentsPrefix(this.nodeId));
    const desiredEnvs = environmentsFromKeys(this.nodeId, keys);
    for (const env of desiredEnvs) {
      try {
        const text = await this.d.channel.get(channelKeys.desired(this.nodeId, env));
        if (text === undefined) continue;
        const { sequence } = desiredPointer.parse(JSON.parse(text));
        await this.converge(env, sequence);
      } catch (e) {
        this.d.log.error({ environment: env, err: describeError(e) }, "could not converge environment");
      }
    }
    if (this.d.workspaces) {
      try {
        await this.d.workspaces.pollOnce();
      } catch (e) {
        this.d.log.error({ err: describeError(e) }, "could not read the workspace declarations");
      }
    }
    for (const env of this.localEnvironments()) {
      if (desiredEnvs.includes(env)) continue;
      try {
        await this.teardown(env);
      } catch (e) {
        this.d.log.error({ environment: env, err: describeError(e) }, "could not tear down environment");
      }
    }
  }

  /** Start-up: identity, crash recovery of every known environment. */
  async start(): Promise<void> {
    await this.publishIdentity();
    for (const env of this.localEnvironments()) {
      try {
        await this.recover(env);
      } catch (e) {
        this.d.log.error({ environment: env, err: describeError(e) }, "recovery failed");
      }
    }
  }

  /**
   * Polls until `signal` aborts, waiting interval × (1 ± jitter) between passes; a change the
   * channel notifies (see `changes`) ends the wait at once, even one that came during a pass.
   */
  async run(signal: AbortSignal): Promise<void> {
    await this.start();
    const { pollIntervalSeconds, pollJitter } = this.d.config;
    let changed = false;
    let wake: (() => void) | undefined;
    const unsubscribe = this.d.changes?.(() => {
      changed = true;
      wake?.();
    });
    try {
      while (!signal.aborted) {
        changed = false;
        await this.pollOnce();
        if (!signal.aborted) await this.backupTick();
        if (changed || signal.aborted) continue;
        const wait = pollIntervalSeconds * 1000 * (1 + pollJitter * (2 * Math.random() - 1));
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(t);
            signal.removeEventListener("abort", done);
            wake = undefined;
            resolve();
          };
          const t = setTimeout(done, wait);
          signal.addEventListener("abort", done);
          wake = done;
        });
      }
    } finally {
      unsubscribe?.();
    }
  }
}
