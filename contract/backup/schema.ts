// Backups of an environment's volumes: what the program declares (the environment's target,
// schedule and retention; per volume in Compose, `x-berth-backup`), and what travels to the node
// in the rendered file's `x-berth.backup`. No secret value is ever part of these shapes: the
// repository password and the bucket credentials are sealed secrets, referenced by name.
import * as z from "zod";
import { scheduleProblem } from "./schedule";

export const scheduleSchema = z.string().superRefine((s, ctx) => {
  const p = scheduleProblem(s);
  if (p) ctx.addIssue({ code: "custom", message: p });
});

const keep = z.number().int().min(1).max(10_000);

/** restic's --keep-* flags: at least one. */
export const retentionSchema = z
  .strictObject({
    last: keep.optional(),
    hourly: keep.optional(),
    daily: keep.optional(),
    weekly: keep.optional(),
    monthly: keep.optional(),
    yearly: keep.optional(),
  })
  .refine((r) => Object.values(r).some((v) => v !== undefined), {
    message: "keep at least something: set one of last, hourly, daily, weekly, monthly, yearly",
  });
export type Retention = z.infer<typeof retentionSchema>;

/** An S3 bucket (Cloudflare R2, Scaleway Object Storage, any S3; versitygw locally). */
export const backupTargetSchema = z.strictObject({
  /** https://<account>.r2.cloudflarestorage.com, https://s3.fr-par.scw.cloud, http://127.0.0.1:PORT … */
  endpoint: z.url({ protocol: /^https?$/, error: "must be an http(s) URL like https://s3.fr-par.scw.cloud" }),
  bucket: z
    .string()
    .regex(
      /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
      "must be a bucket name: 3-63 lowercase letters, digits, '.', '-'",
    ),
  region: z.string().min(1).default("auto"),
  /** Key prefix inside the bucket; each environment's repository is `<prefix>/<environment>`. */
  prefix: z
    .string()
    .regex(
      /^([a-z0-9._-]+(\/[a-z0-9._-]+)*)?$/,
      'must be a key prefix like "backups" or "" (the bucket root)',
    )
    .default(""),
});
export type BackupTarget = z.infer<typeof backupTargetSchema>;

export const BACKUP_SECRET_DEFAULTS = {
  password: "backup-password",
  accessKeyId: "backup-access-key-id",
  secretAccessKey: "backup-secret-access-key",
} as const;

const secretName = z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/, "a secret name");

/** An environment's backups, as the program declares them. */
export const environmentBackupSchema = z.strictObject({
  target: backupTargetSchema,
  /** When volumes are backed up (cron, UTC). */
  schedule: scheduleSchema.default("0 3 * * *"),
  retention: retentionSchema.default({ last: 3, daily: 7, weekly: 4, monthly: 6 }),
  /** When `forget --prune` applies the retention. */
  pruneSchedule: scheduleSchema.default("30 4 * * *"),
  /** When `restic check` verifies the repository. */
  checkSchedule: scheduleSchema.default("0 5 * * 0"),
  /** Restore each volume from its newest snapshot before a node's first apply of the environment. */
  restoreOnFirstApply: z.boolean().default(true),
  /**
   * A restore through the program: the node restores this snapshot (or each volume's newest, or
   * one volume's) once, right after it applies the release that first carries this request;
   * `force` replaces data newer than the snapshot. Remove it afterwards.
   */
  restore: z
    .strictObject({
      snapshot: z
        .string()
        .regex(/^[0-9a-f]{8,64}$/, "a snapshot id (berth-agent snapshots ENV lists them)")
        .optional(),
      volume: z.string().min(1).optional(),
      force: z.boolean().default(false),
    })
    .optional(),
  /** Names of the secrets (the program's secret values) holding the repository password and bucket keys. */
  secrets: z
    .strictObject({
      password: secretName.default(BACKUP_SECRET_DEFAULTS.password),
      accessKeyId: secretName.default(BACKUP_SECRET_DEFAULTS.accessKeyId),
      secretAccessKey: secretName.default(BACKUP_SECRET_DEFAULTS.secretAccessKey),
    })
    .default(BACKUP_SECRET_DEFAULTS),
});
export type EnvironmentBackup = z.infer<typeof environmentBackupSchema>;
export type EnvironmentBackupInput = z.input<typeof environmentBackupSchema>;

/** A command run in a service's running container (`docker exec`). */
export const hookCommandSchema = z.strictObject({
  service: z.string().min(1),
  command: z.array(z.string()).min(1),
});

/** `x-berth-backup` of a Compose volume, in the manifest. */
export const volumeBackupSchema = z.strictObject({
  /** false for `x-berth-backup: false`: the volume is never backed up. */
  enabled: z.boolean(),
  schedule: scheduleSchema.optional(),
  retention: retentionSchema.optional(),
  /** Run before the copy (a dump into the volume, a flush); the backup fails when it fails. */
  before: hookCommandSchema.optional(),
  /** Run after the copy, whatever its outcome. */
  after: hookCommandSchema.optional(),
  /** Services stopped for the copy and started again after it. */
  stop: z.array(z.string().min(1)).default([]),
});
export type VolumeBackup = z.infer<typeof volumeBackupSchema>;

/** One volume as the node backs it up. */
export const nodeBackupVolumeSchema = z.strictObject({
  /** The Compose volume name (the snapshot's tag). */
  name: z.string(),
  /** The folder on the node that holds its data. */
  device: z.string(),
  schedule: z.string(),
  retention: retentionSchema,
  before: hookCommandSchema.optional(),
  after: hookCommandSchema.optional(),
  stop: z.array(z.string()),
});
export type NodeBackupVolume = z.infer<typeof nodeBackupVolumeSchema>;

/** `x-berth.backup` of a rendered file: everything the node needs except the secret values. */
export const nodeBackupSchema = z.strictObject({
  /** restic's repository: `s3:<endpoint>/<bucket>[/<prefix>]/<environment>`. */
  repository: z.string(),
  region: z.string(),
  pruneSchedule: z.string(),
  checkSchedule: z.string(),
  restoreOnFirstApply: z.boolean(),
  restore: z
    .strictObject({ snapshot: z.string().optional(), volume: z.string().optional(), force: z.boolean() })
    .optional(),
  secrets: z.strictObject({ password: z.string(), accessKeyId: z.string(), secretAccessKey: z.string() }),
  volumes: z.array(nodeBackupVolumeSchema),
});
export type NodeBackup = z.infer<typeof nodeBackupSchema>;

/** The restic repository URL of one environment. */
export function repositoryUrl(t: BackupTarget, environmentId: string): string {
  const endpoint = t.endpoint.replace(/\/+$/, "");
  const prefix = t.prefix ? `/${t.prefix}` : "";
  return `s3:${endpoint}/${t.bucket}${prefix}/${environmentId}`;
}
