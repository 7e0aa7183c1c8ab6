// What the node says in the channel: its identity (public key, agent version) and one status per
// environment (the apply's state, the releases it keeps, its backups). Every status goes through
// scrubSecrets: a failure's reason may quote a secret the app printed.
import { channelKeys } from "../../contract/channel/layout";
import { type BackupStatus, type EnvironmentStatus, environmentStatus } from "../../contract/channel/status";
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
    const full: EnvironmentStatus = {
      formatVersion: 1,
      nodeId: this.d.nodeId,
      updatedAt: this.now(),
      ...status,
      ...(releases.length > 0 ? { releases } : {}),
      ...(backup ? { backup } : {}),
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

  /** Puts the environment's backup state into its status in the channel (the rest unchanged). */
  async reportBackup(env: string): Promise<void> {
    const backup = this.d.backupStatus(env);
    if (!backup) return;
    const key = channelKeys.status(this.d.nodeId, env);
    const text = await this.d.channel.get(key);
    const prev = text ? environmentStatus.safeParse(JSON.parse(text)) : undefined;
    const current = this.d.store(env).current();
    const base: EnvironmentStatus = prev?.success
      ? prev.data
      : {
          formatVersion: 1,
          nodeId: this.d.nodeId,
          environmentId: env,
          ...(current !== undefined ? { appliedSequence: current } : {}),
          state: current !== undefined ? "applied" : "applying",
          services: [],
          updatedAt: "",
        };
    await this.put(key, { ...base, backup, updatedAt: this.now() });
  }
}
