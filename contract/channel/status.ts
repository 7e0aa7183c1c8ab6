// What a node reports per environment, and what `pulumi up` waits for.
import * as z from "zod";

export const applyState = z.enum(["applying", "applied", "failed", "rolled-back", "removed", "rejected"]);

export const serviceHealth = z.object({
  name: z.string(),
  state: z.string(),
  health: z.string().optional(),
});

/** One backup, prune, check or restore as the node ran it. */
export const backupRunStatus = z.object({
  at: z.string(),
  durationMs: z.number(),
  ok: z.boolean(),
  snapshotId: z.string().optional(),
  /** Bytes the backup added to the repository (after deduplication). */
  bytesAdded: z.number().optional(),
  error: z.string().optional(),
  /** A backup that was made, with something to know (files that could not be read). */
  warning: z.string().optional(),
});
export type BackupRunStatus = z.infer<typeof backupRunStatus>;

export const volumeBackupStatus = z.object({
  volume: z.string(),
  /** The last attempt, successful or not. */
  last: backupRunStatus.optional(),
  /** The last successful backup. */
  lastSuccess: backupRunStatus.optional(),
  /** Scheduled backups that did not run (the agent was down or busy), since the last success. */
  missed: z.number().int().nonnegative(),
  /** The last time scheduled backups were found missed (reported even after a later success). */
  lastMissed: z.object({ at: z.string(), count: z.number() }).optional(),
  nextAt: z.string().optional(),
});

export const restoreStatus = z.object({
  at: z.string(),
  /** first-apply: before a node's first apply of the environment; operator: berth-agent restore. */
  reason: z.enum(["first-apply", "operator"]),
  volumes: z.array(
    z.object({
      volume: z.string(),
      action: z.enum(["restored", "kept", "none", "failed"]),
      snapshotId: z.string().optional(),
      detail: z.string(),
    }),
  ),
});

export const backupStatus = z.object({
  /** ok: every volume's last backup succeeded; failing: one failed; missed: one did not run when due. */
  state: z.enum(["ok", "failing", "missed", "pending"]),
  repository: z.string(),
  volumes: z.array(volumeBackupStatus),
  prune: backupRunStatus.optional(),
  check: backupRunStatus.optional(),
  restore: restoreStatus.optional(),
});
export type BackupStatus = z.infer<typeof backupStatus>;

export const environmentStatus = z.object({
  formatVersion: z.literal(1),
  nodeId: z.string(),
  environmentId: z.string(),
  /** The release that is running (undefined before the first success). */
  appliedSequence: z.number().int().positive().optional(),
  /** The release the agent last tried. */
  attemptedSequence: z.number().int().positive().optional(),
  state: applyState,
  /** Why the attempted release failed or was rejected: the node's own words. */
  error: z.string().optional(),
  /** The last log lines of the service that failed, when one did. */
  logTail: z.string().optional(),
  services: z.array(serviceHealth).default([]),
  /** The node's recent releases of the environment and their outcomes (newest last). */
  releases: z
    .array(
      z.object({
        sequence: z.number().int().positive(),
        outcome: z.string().optional(),
        appliedAt: z.string().optional(),
        error: z.string().optional(),
      }),
    )
    .optional(),
  /** The environment's backups, when it declares them. */
  backup: backupStatus.optional(),
  /** What an applying release waits for (a node group's leader: the holders of its volumes). */
  waiting: z.string().optional(),
  /**
   * A node group's volume holder (contract/swarm/volumes.ts): the volumes of release `sequence`
   * it made ready on its engine (each disk mounted, each Docker volume bound to it), and why one
   * is not, when it is not. The leader deploys only once each holder's signed word lists them.
   */
  heldVolumes: z
    .object({
      sequence: z.number().int().positive(),
      ready: z.array(z.string()),
      problem: z.string().optional(),
    })
    .optional(),
  /**
   * What the node found in the channel and did not act on (a missing desired.json, a withdrawal
   * that does not verify, an object above the size cap), so that someone looks.
   */
  anomalies: z.array(z.string()).optional(),
  /**
   * The agent's heartbeat: rewritten every `intervalSeconds` even when nothing changed, so a
   * status older than a few intervals means the node has gone silent.
   */
  heartbeat: z
    .object({
      at: z.string(),
      agentVersion: z.string(),
      intervalSeconds: z.number().positive(),
    })
    .optional(),
  updatedAt: z.string(),
});
export type EnvironmentStatus = z.infer<typeof environmentStatus>;

// A node's identity document (identity.json) is defined in node-identity.ts.

export const desiredPointer = z.object({ sequence: z.number().int().positive() });
