// What the node says in the channel: its identity (public key, agent version) and one status per
// environment (the apply's state, the releases it keeps, its backups). Every status goes through
// scrubSecrets: a failure's reason may quote a secret the app printed.
import { channelKeys } from "../../contract/channel/layout";
import type { BackupStatus, EnvironmentStatus } from "../../contract/channel/status";
import { unverifiedStatus } from "../../contract/channel/status-signature";
import type { ChannelStore } from "../../contract/channel/store";
import { scrubSecrets } from "../../lib/log";
import type { ReleaseStore } from "../state/release-store";
import { AGENT_VERSION } from "../version";

export interface StatusPublisherDeps {
  channel: ChannelStore;
  nodeId: string;
  publicKey: string;
  store: (env: string) => ReleaseStore;
  /** The environment's backup state, when it declares backups. */
  backupStatus: (env: string) => BackupStatus | undefined;
  now?: () => Date;
}

/** A status as the agent reports it: the node, the time and the backups are filled in. */
export type StatusReport = Omit<EnvironmentStatus, "formatVersion" | "nodeId" | "updatedAt" | "backup">;

export class StatusPublisher {
  /** What the node found in the channel and did not act on, per environment: in every status until it clears. */
  private readonly anomalies = new Map<string, readonly string[]>();

  constructor(private readonly d: StatusPublisherDeps) {}

  private now(): string {
    return (this.d.now?.() ?? new Date()).toISOString();
  }

  private async put(key: string, value: unknown): Promise<void> {
    await this.d.channel.put(key, `${JSON.stringify(scrubSecrets(value), null, 2)}\n`);
  }

  async publishIdentity(): Promise<void> {
    await this.put(channelKeys.identity(this.d.nodeId), {
      formatVersion: 1,
      nodeId: this.d.nodeId,
      publicKey: this.d.publicKey,
      agentVersion: AGENT_VERSION,
      publishedAt: this.now(),
    });
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
    await this.put(channelKeys.status(this.d.nodeId, status.environmentId), full);
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

  /** The node's last status of the environment (its own, read back), or one made from its state. */
  private async lastStatus(env: string): Promise<EnvironmentStatus> {
    const text = await this.d.channel.get(channelKeys.status(this.d.nodeId, env)).catch(() => undefined);
    const prev = text ? unverifiedStatus(text) : undefined;
    if (prev && prev.nodeId === this.d.nodeId && prev.environmentId === env) return prev;
    const current = this.d.store(env).current();
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

  /** Puts the environment's backup state into its status in the channel (the rest unchanged). */
  async reportBackup(env: string): Promise<void> {
    const backup = this.d.backupStatus(env);
    if (!backup) return;
    const base = await this.lastStatus(env);
    await this.put(channelKeys.status(this.d.nodeId, env), { ...base, backup, updatedAt: this.now() });
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
    await this.put(channelKeys.status(this.d.nodeId, env), {
      ...base,
      ...(anomalies.length > 0 ? { anomalies: [...anomalies] } : {}),
      updatedAt: this.now(),
    });
  }
}
