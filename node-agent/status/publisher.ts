// What the node says in the channel: its identity (sealing and status keys, agent version, MACed
// with its enrollment secret) and one status per environment (the apply's state, the releases it
// keeps, its backups, its heartbeat), signed with its status key: the program believes only
// those. Every status goes through scrubSecrets before it is signed: a failure's reason may quote
// a secret the app printed. The heartbeat rewrites each status at least every heartbeatSeconds.
import { channelKeys } from "../../contract/channel/layout";
import type { BackupStatus, EnvironmentStatus } from "../../contract/channel/status";
import { verifyStatus } from "../../contract/channel/status-signature";
import type { ChannelStore } from "../../contract/channel/store";
import { scrubSecrets } from "../../lib/log";
import { nodeIdentityText, signedStatusText } from "../identity";
import type { ReleaseStore } from "../state/release-store";
import { AGENT_VERSION } from "../version";

export interface StatusPublisherDeps {
  channel: ChannelStore;
  nodeId: string;
  publicKey: string;
  /** The node's Ed25519 status key pair: every status is signed with it. */
  statusKey: { publicKey: string; privateKey: string };
  /** The secret the identity is MACed with; absent: an identity the program refuses. */
  enrollmentSecret?: string;
  /** Each environment's status is rewritten at least this often. */
  heartbeatSeconds: number;
  store: (env: string) => ReleaseStore;
  /**
   * The release the node runs of the environment (default: its store's current). The agent
   * answers none for an environment it has no state for (a volume it holds on a node group),
   * without making its store.
   */
  current?: (env: string) => number | undefined;
  /** The environments this node has state for (their statuses heartbeat). */
  environments?: () => string[];
  /** The environment's backup state, when it declares backups. */
  backupStatus: (env: string) => BackupStatus | undefined;
  now?: () => Date;
}

/** A status as the agent reports it: the node, the time and the backups are filled in. */
export type StatusReport = Omit<EnvironmentStatus, "formatVersion" | "nodeId" | "updatedAt" | "backup">;

export class StatusPublisher {
  /** What the node found in the channel and did not act on, per environment: in every status until it clears. */
  private readonly anomalies = new Map<string, readonly string[]>();
  /** The last status written per environment, and when (the heartbeat rewrites it). */
  private readonly last = new Map<string, { status: EnvironmentStatus; at: number }>();

  constructor(private readonly d: StatusPublisherDeps) {}

  private current(env: string): number | undefined {
    return this.d.current ? this.d.current(env) : this.d.store(env).current();
  }

  private date(): Date {
    return this.d.now?.() ?? new Date();
  }

  private now(): string {
    return this.date().toISOString();
  }

  /** Writes a status: heartbeat stamped, secrets scrubbed, signed with the status key. */
  private async putStatus(status: EnvironmentStatus): Promise<void> {
    const now = this.date();
    const full: EnvironmentStatus = {
      ...status,
      heartbeat: {
        at: now.toISOString(),
        agentVersion: AGENT_VERSION,
        intervalSeconds: this.d.heartbeatSeconds,
      },
    };
    this.last.set(full.environmentId, { status: full, at: now.getTime() });
    const text = signedStatusText(scrubSecrets(full) as EnvironmentStatus, this.d.statusKey.privateKey);
    await this.d.channel.put(channelKeys.status(this.d.nodeId, full.environmentId), text);
  }

  /** This node's own last status of the environment: in memory, or in the channel if it verifies. */
  private async previous(env: string): Promise<EnvironmentStatus | undefined> {
    const mine = this.last.get(env);
    if (mine) return mine.status;
    const text = await this.d.channel.get(channelKeys.status(this.d.nodeId, env));
    if (text === undefined) return undefined;
    const check = verifyStatus(text, {
      statusKey: this.d.statusKey.publicKey,
      nodeId: this.d.nodeId,
      environmentId: env,
    });
    return check.ok ? check.status : undefined;
  }

  async publishIdentity(): Promise<void> {
    const keys = { publicKey: this.d.publicKey, statusKey: this.d.statusKey.publicKey };
    // Without its enrollment secret the node still says who it is; the program refuses the
    // document (no valid MAC) and says so.
    await this.d.channel.put(
      channelKeys.identity(this.d.nodeId),
      nodeIdentityText(this.d.nodeId, keys, this.d.enrollmentSecret ?? "", this.date()),
    );
  }

  /**
   * Rewrites every environment's status whose last write is older than the heartbeat interval
   * (after a restart: the node's own verified status from the channel, or what its state says).
   */
  async heartbeat(): Promise<void> {
    const now = this.date().getTime();
    for (const env of this.d.environments?.() ?? []) {
      const mine = this.last.get(env);
      if (mine && now - mine.at < this.d.heartbeatSeconds * 1000) continue;
      const prev = await this.previous(env);
      if (prev?.state === "removed") continue;
      const current = this.current(env);
      await this.putStatus(
        prev ?? {
          formatVersion: 1,
          nodeId: this.d.nodeId,
          environmentId: env,
          ...(current !== undefined ? { appliedSequence: current, attemptedSequence: current } : {}),
          state: current !== undefined ? "applied" : "applying",
          services: [],
          updatedAt: this.now(),
        },
      );
    }
  }

  /** Writes the environment's status, with the releases the node keeps and its backups. */
  async report(status: StatusReport): Promise<void> {
    const removed = status.state === "removed";
    const backup = removed ? undefined : this.d.backupStatus(status.environmentId);
    const releases = removed ? [] : this.history(status.environmentId);
    const anomalies = this.anomalies.get(status.environmentId) ?? [];
    const full: EnvironmentStatus = {
      formatVersion: 1,
      nodeId: this.d.nodeId,
      updatedAt: this.now(),
      ...status,
      ...(releases.length > 0 ? { releases } : {}),
      ...(backup ? { backup } : {}),
      ...(anomalies.length > 0 ? { anomalies: [...anomalies] } : {}),
    };
    await this.putStatus(full);
  }

  /** The releases this node keeps of the environment, with their outcomes. */
  history(env: string): NonNullable<EnvironmentStatus["releases"]> {
    const store = this.d.store(env);
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

  /**
   * The node's last status of the environment (its own, read back), or one made from its state.
   * `heldSequence`: a node of a group that holds the environment's volumes, and runs no release of
   * it: its status says the leader's backup order of that release is applied here.
   */
  private async lastStatus(env: string, heldSequence?: number): Promise<EnvironmentStatus> {
    const prev = await this.previous(env).catch(() => undefined);
    if (prev)
      return heldSequence !== undefined && prev.services.length === 0
        ? { ...prev, appliedSequence: heldSequence }
        : prev;
    const current = this.current(env) ?? heldSequence;
    return {
      formatVersion: 1,
      nodeId: this.d.nodeId,
      environmentId: env,
      ...(current !== undefined ? { appliedSequence: current } : {}),
      state: current !== undefined ? "applied" : "applying",
      services: [],
      updatedAt: "",
    };
  }

  /**
   * Puts the environment's backup state into its status in the channel (the rest unchanged).
   * `heldSequence`: the release of the backup order this node runs as a volume's holder on a node
   * group (the node may run no release of the environment itself).
   */
  async reportBackup(env: string, o: { heldSequence?: number } = {}): Promise<void> {
    const backup = this.d.backupStatus(env);
    if (!backup) return;
    await this.putStatus({ ...(await this.lastStatus(env, o.heldSequence)), backup, updatedAt: this.now() });
  }

  /**
   * A node group's volume holder: its word on the volumes of release `word.sequence` it made ready
   * (contract/swarm/volumes.ts), put into its status of the environment (the rest unchanged).
   */
  async reportHeldVolumes(env: string, word: NonNullable<EnvironmentStatus["heldVolumes"]>): Promise<void> {
    await this.putStatus({
      ...(await this.lastStatus(env, word.sequence)),
      heldVolumes: word,
      updatedAt: this.now(),
    });
  }

  /**
   * Sets what the node found in the channel and did not act on (none: the field goes); the
   * status is rewritten, the rest unchanged, only when that changed.
   */
  async reportAnomalies(env: string, anomalies: readonly string[]): Promise<void> {
    const before = this.anomalies.get(env) ?? [];
    if (before.length === anomalies.length && before.every((a, i) => a === anomalies[i])) return;
    if (anomalies.length > 0) this.anomalies.set(env, [...anomalies]);
    else this.anomalies.delete(env);
    const { anomalies: _old, ...base } = await this.lastStatus(env);
    await this.putStatus({
      ...base,
      ...(anomalies.length > 0 ? { anomalies: [...anomalies] } : {}),
      updatedAt: this.now(),
    });
  }
}
