// The agent: wires its parts and keeps the methods the CLI and the tests call.
//   StatusPublisher (status/publisher.ts)   the node's identity and per-environment statuses
//   Converger       (converge/converger.ts) verify, store, apply one environment; rollback; teardown
//   Recovery        (converge/recovery.ts)  after a crash: stray containers, the proxy re-pointed
//   BackupJobs      (backup/jobs.ts)        backups, prunes, checks, restores with their settings
//   PollLoop        (poll-loop.ts)          the passes, their timing, the channel's change events
// Crash-safe: at start it cleans up what a killed apply left behind before converging again.
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { ChannelStore } from "../contract/channel/store";
import { isId } from "../contract/ids";
import { releaseEnvelopeSchema, unsealSecrets } from "../contract/payload";
import { TLS_SECRET_PREFIX } from "../contract/release/tls";
import { type Logger, registerSecret } from "../lib/log";
import { Applier, type ApplyOutcome, describeError } from "./apply/apply";
import type { ProxyControl } from "./apply/proxy-control";
import {
  Backups,
  type ResticProgressListener,
  type RestoreOptions,
  type RestoreReport,
} from "./backup/backups";
import { BackupJobs, type BackupSettings } from "./backup/jobs";
import type { ExchangeFolders } from "./backup/swap";
import type { ChannelChanges } from "./channel-watch";
import type { AgentConfig } from "./config";
import { Converger } from "./converge/converger";
import { Recovery } from "./converge/recovery";
import { diskMounter } from "./disks/mount";
import type { DockerRunner } from "./docker";
import { readEnrollmentSecret } from "./identity";
import { loadOrCreateNodeKeys, loadOrCreateStatusKey } from "./node-keys";
import { PollLoop } from "./poll-loop";
import { Floors } from "./state/floors";
import type { Release } from "./state/release";
import { ReleaseStore } from "./state/release-store";
import { StatusPublisher, type StatusReport } from "./status/publisher";
import { HeldBackupOrders, type LedBackup } from "./swarm/backup-pass";
import * as swarmCmd from "./swarm/commands";
import { HeldBackupJobs } from "./swarm/held-backups";
import { HeldVolumes } from "./swarm/held-volumes";
import { applySwarmPayload, isSwarmStack, swarmExtrasOf } from "./swarm/release";
import { type LedPins, RestoreHolds } from "./swarm/restore-holds";
import type { LedEnvironment } from "./swarm/routes-pass";
import { SwarmPass } from "./swarm/swarm-pass";
import { awaitHeldVolumes } from "./swarm/volumes-ready";
import type { TrustStore } from "./trust/trust-store";
import { AgentChanges } from "./upgrade/agent-changes";
import type { WorkspaceSync } from "./workspace/sync";

/** How long a holder's restore waits for the group's leader to stop (and start) the pinned services. */
const RESTORE_HOLD_TIMEOUT_MS = 300_000;

export interface AgentDeps {
  config: AgentConfig;
  channel: ChannelStore;
  docker: DockerRunner;
  proxy: ProxyControl & { routesOf?(env: string): { environmentId: string; host: string; path?: string }[] };
  log: Logger;
  /** Called at each apply step and at the points of a restore (fault injection in tests, timelines in benchmarks). */
  onStep?: (step: string) => Promise<void> | void;
  /** How a restore exchanges two folders (default: renameat2 through python3; backup/swap.ts). */
  exchange?: ExchangeFolders;
  /** restic's progress of backups and restores (`berth-agent backup`/`restore` on a terminal). */
  resticProgress?: ResticProgressListener;
  /** Change notifications of the channel (a watched folder): each one starts a poll at once. */
  changes?: ChannelChanges;
  /** Devcontainer workspaces declared for this node (brought up in the background). */
  workspaces?: WorkspaceSync;
  /** The node's trust (shared with the workspaces' verifier); made from the config when absent. */
  trust?: TrustStore;
  /** The config file and the bundle this agent runs: agent upgrades need both (berth-agent run). */
  configFile?: string;
  bundlePath?: string;
  /**
   * The poll loop's converge of one environment, instead of this agent's own Converger: the
   * daemon's applies, each in a child process (converge/apply-child.ts). Not on a node group's
   * leader, whose swarm deploys read its swarm pass's state.
   */
  convergeVia?: (env: string, desired: number) => Promise<unknown>;
  /**
   * Where an apply's statuses go, instead of this agent's StatusPublisher: an apply's child
   * process sends them to its daemon, the node's one status writer.
   */
  statusSink?: { report(status: StatusReport): Promise<void>; reportBackup(env: string): Promise<void> };
}

/** The environments a node has state for, under its state root. */
export function localEnvironments(stateRoot: string): string[] {
  const dir = join(stateRoot, "environments");
  return existsSync(dir) ? readdirSync(dir).filter(isId) : [];
}

export class Agent {
  private readonly keys: { publicKey: string; privateKey: string };
  readonly backups: Backups;
  readonly status: StatusPublisher;
  readonly backupJobs: BackupJobs;
  readonly recovery: Recovery;
  readonly converger: Converger;
  readonly loop: PollLoop;
  /** Trust sets and agent upgrades (upgrade/agent-changes.ts). */
  readonly changes: AgentChanges;
  readonly floors: Floors;
  /** Node groups: forming and keeping the swarm (swarm/swarm-pass.ts). */
  readonly swarm: SwarmPass;
  /** The backups of the swarm volumes this node holds (swarm/held-backups.ts). */
  readonly heldBackups: HeldBackupJobs;
  /** The swarm volumes this node holds, made ready before the leader deploys (swarm/held-volumes.ts). */
  readonly heldVolumes: HeldVolumes;
  /** As a group's leader: the placements of volumes seen ready, per environment. */
  private readonly readyPlacements = new Map<string, string>();

  constructor(private readonly d: AgentDeps) {
    const { config, docker, proxy, log } = d;
    const statusKey = loadOrCreateStatusKey(config.stateRoot);
    this.changes = new AgentChanges({
      config,
      channel: d.channel,
      log,
      statusPrivateKey: statusKey.privateKey,
      ...(d.trust ? { trust: d.trust } : {}),
      ...(d.configFile ? { configFile: d.configFile } : {}),
      ...(d.bundlePath ? { bundlePath: d.bundlePath } : {}),
    });
    this.keys = loadOrCreateNodeKeys(config.stateRoot);
    this.floors = new Floors(config.stateRoot);
    const store = (env: string) => this.store(env);
    const unseal = (r: Release) => this.unseal(r);
    const environments = () => this.localEnvironments();
    const mountDisk = diskMounter({
      fstabPath: config.disks.fstabPath,
      deviceTimeoutMs: config.disks.deviceTimeoutSeconds * 1000,
      log,
    });
    const trusted = this.changes.trust.keys;
    this.recovery = new Recovery({ docker, proxy, store, unseal, log });
    this.backups = new Backups({
      stateRoot: config.stateRoot,
      docker,
      log,
      resticPath: config.resticPath,
      restarted: (env) => this.recovery.repointProxy(env),
      ...(d.resticProgress ? { progress: d.resticProgress } : {}),
      ...(d.onStep ? { onStep: d.onStep } : {}),
      ...(d.exchange ? { exchange: d.exchange } : {}),
    });
    let enrollmentSecret: string | undefined;
    try {
      enrollmentSecret = readEnrollmentSecret(config.enrollmentSecretFile);
    } catch (e) {
      log.error({ err: describeError(e) }, "the program will refuse this node's identity");
    }
    const heldOrders = new HeldBackupOrders(config.stateRoot, {
      nodeId: config.nodeId,
      nodePrivateKey: this.keys.privateKey,
    });
    this.heldBackups = new HeldBackupJobs({
      orders: heldOrders,
      // Its own records, apart from the environments this node runs (<stateRoot>/swarm/environments/).
      backups: new Backups({
        stateRoot: join(config.stateRoot, "swarm"),
        docker,
        log,
        resticPath: config.resticPath,
        ...(d.resticProgress ? { progress: d.resticProgress } : {}),
      }),
      docker,
      log,
      report: (env, sequence) => this.status.reportBackup(env, { heldSequence: sequence }),
      restoreHold: {
        channel: d.channel,
        nodeId: config.nodeId,
        statusPrivateKey: statusKey.privateKey,
        timeoutMs: RESTORE_HOLD_TIMEOUT_MS,
      },
    });
    this.heldVolumes = new HeldVolumes({
      nodeId: config.nodeId,
      stateRoot: config.stateRoot,
      volumeRoot: config.volumeRoot,
      docker,
      mountDisk,
      report: (env, word) => this.status.reportHeldVolumes(env, word),
    });
    this.swarm = new SwarmPass({
      nodeId: config.nodeId,
      channel: d.channel,
      docker,
      trusted,
      nodePrivateKey: this.keys.privateKey,
      statusPrivateKey: statusKey.privateKey,
      stateRoot: config.stateRoot,
      log,
      statusPublicKey: statusKey.publicKey,
      ...(proxy.routesOf
        ? { proxy: proxy as typeof proxy & { routesOf: NonNullable<typeof proxy.routesOf> } }
        : {}),
      ledEnvironments: () => this.ledSwarmEnvironments(),
      ledBackups: () => this.ledSwarmBackups(),
      heldOrders,
      beforeJoin: (group) => this.heldBackups.restoreBeforeJoin(group),
      heldVolumes: this.heldVolumes,
      ledPins: () => this.ledSwarmPins(),
      restoreHolds: new RestoreHolds(config.stateRoot),
    });
    this.status = new StatusPublisher({
      channel: d.channel,
      nodeId: config.nodeId,
      publicKey: this.keys.publicKey,
      statusKey,
      ...(enrollmentSecret ? { enrollmentSecret } : {}),
      heartbeatSeconds: config.heartbeatSeconds,
      // The environments whose volumes this node holds on a node group heartbeat too.
      environments: () => [
        ...new Set([
          ...environments(),
          ...this.heldBackups.environments(),
          ...this.heldVolumes.environments(),
        ]),
      ],
      store,
      current: (env) => (this.localEnvironments().includes(env) ? this.store(env).current() : undefined),
      backupStatus: (env) => this.backups.status(env) ?? this.heldBackups.status(env),
    });
    this.backupJobs = new BackupJobs({
      backups: this.backups,
      store,
      unseal,
      reportBackup: (env) => (d.statusSink ?? this.status).reportBackup(env),
      environments,
      mountDisk,
      log,
    });
    const applier = new Applier({
      docker,
      proxy,
      log,
      healthTimeoutSeconds: config.healthTimeoutSeconds,
      ...(d.onStep ? { onStep: d.onStep } : {}),
      mountDisk,
      unseal: (p) => this.unsealPayload(p),
    });
    this.converger = new Converger({
      nodeId: config.nodeId,
      channel: d.channel,
      trusted,
      store,
      applier,
      docker,
      proxy,
      report: (s) => (d.statusSink ?? this.status).report(s),
      backups: this.backupJobs,
      recover: (env) => this.recovery.recover(env),
      repoint: (env) => this.recovery.repointProxy(env),
      log,
      keepReleases: config.keepReleases,
      floors: this.floors,
      volumeRoot: config.volumeRoot,
      // A release rendered for Swarm (docs/swarm.md) goes to the engine's swarm; on an engine
      // that manages none, docker stack deploy refuses it and the status says so.
      swarm: (payload, file, waiting) =>
        applySwarmPayload(
          {
            docker,
            unseal: (p) => this.unsealPayload(p),
            timeoutMs: Math.max(120, config.healthTimeoutSeconds) * 1000,
            // The holders of the stack's volumes make them ready (a cloud disk mounted) first.
            beforeDeploy: (p, extras) =>
              awaitHeldVolumes(
                {
                  nodeId: config.nodeId,
                  channel: d.channel,
                  statusPrivateKey: statusKey.privateKey,
                  ledGroup: () => this.swarm.ledGroup(),
                  prepareOwn: (env, seq, volumes) => this.heldVolumes.prepare(env, seq, volumes),
                  timeoutMs: config.heldVolumesTimeoutSeconds * 1000,
                  waiting,
                  readyPlacements: this.readyPlacements,
                  inSwarm: async (holder) =>
                    (await docker(swarmCmd.memberStatus(holder), { allowFailure: true })).stdout
                      .split("\n")
                      .includes("Ready"),
                  // The swarm pass goes on while it waits: it labels a holder that just joined.
                  upkeep: () => this.swarm.run().catch(() => undefined),
                },
                { environmentId: p.environmentId, sequence: p.sequence, volumes: extras.volumes ?? [] },
              ),
          },
          payload,
          file,
        ),
      opens: (p) => {
        try {
          this.unsealPayload(p);
          return undefined;
        } catch (e) {
          return describeError(e);
        }
      },
    });
    this.loop = new PollLoop({
      nodeId: config.nodeId,
      channel: d.channel,
      log,
      // A group's leader applies in its own process: a Swarm stack's deploy waits on what its
      // swarm pass holds (the led group, the placements seen ready; swarm/volumes-ready.ts).
      converge: (env, seq) =>
        d.convergeVia && this.swarm.ledGroup() === undefined
          ? d.convergeVia(env, seq)
          : this.converger.converge(env, seq),
      teardown: (env) => this.converger.teardown(env),
      environments,
      trusted,
      floorOf: (env) => {
        if (!this.localEnvironments().includes(env)) return this.floors.get(env);
        const store = this.store(env);
        return Math.max(this.floors.get(env), store.current() ?? 0, store.highestSeen());
      },
      raiseFloor: (env, seq) => this.floors.raise(env, seq),
      reportAnomalies: (env, anomalies) => this.status.reportAnomalies(env, anomalies),
      ...(d.workspaces ? { workspaces: d.workspaces } : {}),
      backupTick: async () => {
        await this.backupJobs.tick();
        await this.heldBackups.tick();
        await this.status.heartbeat().catch((e) => log.error({ err: describeError(e) }, "heartbeat failed"));
      },
      pollIntervalSeconds: config.pollIntervalSeconds,
      pollJitter: config.pollJitter,
      ...(d.changes ? { changes: d.changes } : {}),
      beforePass: () => this.changes.beforePass(),
      afterPass: () => this.changes.afterPass(),
      swarm: () => this.swarm.run(),
    });
  }

  get nodeId(): string {
    return this.d.config.nodeId;
  }

  get publicKey(): string {
    return this.keys.publicKey;
  }

  /**
   * What a led environment's current release hands on to the group's nodes, read once per
   * release: its proxy and backups (`x-berth`), and its secrets opened (its TLS bundles, its
   * backups' password and bucket keys).
   */
  private readonly led = new Map<
    string,
    {
      sequence: number;
      proxy: LedEnvironment["proxy"];
      backup: LedBackup["backup"] | undefined;
      opened: Record<string, string>;
      pins: Omit<LedPins, "environmentId" | "sequence"> | undefined;
    }
  >();

  /** The swarm environments this node leads: what is pinned to which node (a holder's restore). */
  private ledSwarmPins(): LedPins[] {
    const out: LedPins[] = [];
    for (const e of this.ledSwarmEnvironments()) {
      const p = this.led.get(e.environmentId)?.pins;
      if (p && p.pins.length > 0) out.push({ environmentId: e.environmentId, sequence: e.sequence, ...p });
    }
    return out;
  }

  /** The swarm environments this node leads whose release declares backups, with their secrets. */
  private ledSwarmBackups(): LedBackup[] {
    const out: LedBackup[] = [];
    for (const e of this.ledSwarmEnvironments()) {
      const r = this.led.get(e.environmentId);
      if (r?.backup)
        out.push({
          environmentId: e.environmentId,
          sequence: e.sequence,
          backup: r.backup,
          secrets: r.opened,
        });
    }
    return out;
  }

  /** The swarm environments this node applied (as its group's leader), with their proxy and certificates. */
  private ledSwarmEnvironments(): LedEnvironment[] {
    const out: LedEnvironment[] = [];
    for (const env of this.localEnvironments()) {
      const store = this.store(env);
      const current = store.current();
      if (current === undefined) continue;
      let r = this.led.get(env);
      if (r?.sequence !== current) {
        const text = store.readCompose(current);
        if (!isSwarmStack(text)) continue;
        const extras = swarmExtrasOf(text);
        const backup = extras?.backup;
        const handedOn = new Set(
          backup ? [backup.secrets.password, backup.secrets.accessKeyId, backup.secrets.secretAccessKey] : [],
        );
        // The stored envelope's payload (a swarm stack has no node extras: not store.release()).
        let opened: Record<string, string> = {};
        try {
          const { payload } = releaseEnvelopeSchema.parse(JSON.parse(store.readPayload(current)));
          opened = Object.fromEntries(
            Object.entries(this.unsealPayload(payload)).filter(
              ([k]) => k.startsWith(TLS_SECRET_PREFIX) || handedOn.has(k),
            ),
          );
        } catch (e) {
          this.d.log.error(
            { environment: env, sequence: current, err: describeError(e) },
            "could not open the release's certificates and backup secrets for the group's nodes",
          );
        }
        r = {
          sequence: current,
          proxy: extras?.proxy,
          backup,
          opened,
          pins: extras ? { stack: extras.stack, pins: extras.pins, replicas: extras.replicas } : undefined,
        };
        this.led.set(env, r);
      }
      const tls = Object.fromEntries(
        Object.entries(r.opened).filter(([k]) => k.startsWith(TLS_SECRET_PREFIX)),
      );
      out.push({ environmentId: env, sequence: current, proxy: r.proxy, tls });
    }
    return out;
  }

  store(env: string): ReleaseStore {
    return new ReleaseStore(this.d.config.stateRoot, env);
  }

  private unsealPayload(p: Release["payload"]): Record<string, string> {
    const out = Object.fromEntries(unsealSecrets(p, this.keys.privateKey));
    for (const v of Object.values(out)) registerSecret(v);
    return out;
  }

  private unseal(r: Release): Record<string, string> {
    return this.unsealPayload(r.payload);
  }

  /** Environments this node has state for. */
  localEnvironments(): string[] {
    return localEnvironments(this.d.config.stateRoot);
  }

  private identityPublished = false;

  async publishIdentity(): Promise<void> {
    await this.status.publishIdentity();
    this.identityPublished = true;
  }

  report(status: StatusReport): Promise<void> {
    return this.status.report(status);
  }

  reportBackup(env: string): Promise<void> {
    return this.status.reportBackup(env);
  }

  /** The backup settings and unsealed secrets of the environment's current release. */
  backupOf(env: string): BackupSettings | undefined {
    return this.backupJobs.settingsOf(env);
  }

  /** A node group's volume holder that runs no release of `env` (its backup commands act on what it holds). */
  private holds(env: string): boolean {
    return this.backupJobs.settingsOf(env) === undefined && this.heldBackups.environments().includes(env);
  }

  /** On a node group's volume holder that runs no release of `env`: the volumes it holds. */
  backupNow(env: string, volumes?: string[]) {
    return this.holds(env)
      ? this.heldBackups.backupNow(env, volumes)
      : this.backupJobs.backupNow(env, volumes);
  }

  pruneNow(env: string) {
    return this.holds(env) ? this.heldBackups.pruneNow(env) : this.backupJobs.pruneNow(env);
  }

  checkNow(env: string) {
    return this.holds(env) ? this.heldBackups.checkNow(env) : this.backupJobs.checkNow(env);
  }

  snapshots(env: string) {
    return this.holds(env) ? this.heldBackups.snapshots(env) : this.backupJobs.snapshots(env);
  }

  /** On a node group's volume holder: the leader stops the pinned services while it swaps the data. */
  restore(env: string, o: Omit<RestoreOptions, "reason">): Promise<RestoreReport> {
    return this.holds(env) ? this.heldBackups.restore(env, o) : this.backupJobs.restore(env, o);
  }

  backupTick(): Promise<void> {
    return this.backupJobs.tick();
  }

  recover(env: string): Promise<void> {
    return this.recovery.recover(env);
  }

  repointProxy(env: string): Promise<void> {
    return this.recovery.repointProxy(env);
  }

  converge(env: string, desired: number): Promise<ApplyOutcome | undefined> {
    return this.converger.converge(env, desired);
  }

  /** An operator's rollback: applies an earlier, already verified release again. */
  reapply(env: string, release: Release): Promise<ApplyOutcome> {
    return this.converger.reapply(env, release);
  }

  teardown(env: string): Promise<void> {
    return this.converger.teardown(env);
  }

  pollOnce(): Promise<void> {
    return this.loop.pollOnce();
  }

  /** Start-up: identity, crash recovery of every known environment (a cut restore's swap, then containers and proxy). */
  async start(): Promise<void> {
    if (!this.identityPublished) await this.publishIdentity();
    for (const env of this.localEnvironments()) {
      // A restore's swap cut off by the crash first: its stopped containers start again there.
      await this.backupJobs
        .recoverInterrupted(env)
        .catch((e) =>
          this.d.log.error(
            { environment: env, err: describeError(e) },
            "settling an interrupted restore failed",
          ),
        );
      try {
        await this.recover(env);
      } catch (e) {
        this.d.log.error({ environment: env, err: describeError(e) }, "recovery failed");
      }
    }
  }

  /**
   * Starts, then polls until `signal` aborts (see PollLoop.run) or a new agent was swapped in;
   * then hands over to it (the caller exits).
   */
  async run(signal: AbortSignal): Promise<void> {
    this.changes.markRunning();
    await this.start();
    await this.loop.run(signal);
    if (this.loop.handingOver) this.changes.handOver();
  }
}
