// Every restic invocation the agent makes, built as data (arguments and environment), and the
// parsers of what restic prints. Pure: tested without restic. One repository per environment;
// each volume is its own snapshot series, tagged `berth-volume=<name>` under the host name
// `berth-<environment>` (not the node's name: a replacement node must find the same series).
// Volumes are backed up from inside their folder (`restic backup .`), so a snapshot holds the
// volume's files at its root and restores onto any node's volume path.
import type { Retention } from "../../contract/backup/schema";

export interface ResticAccess {
  repository: string;
  region: string;
  password: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** restic's local cache (speeds up every command; safe to lose). */
  cacheDir: string;
}

export interface ResticCall {
  args: string[];
  /** Working folder (the volume's folder for a backup). */
  cwd?: string;
}

/** The environment restic runs with: every credential here, never in arguments. */
export function resticEnv(a: ResticAccess): Record<string, string> {
  return {
    RESTIC_REPOSITORY: a.repository,
    RESTIC_PASSWORD: a.password,
    AWS_ACCESS_KEY_ID: a.accessKeyId,
    AWS_SECRET_ACCESS_KEY: a.secretAccessKey,
    RESTIC_CACHE_DIR: a.cacheDir,
  };
}

export const snapshotHost = (env: string) => `berth-${env}`;
export const volumeTag = (volume: string) => `berth-volume=${volume}`;

/** Options every call carries: the bucket's region, path-style addressing (R2, Scaleway, versitygw). */
function common(region: string): string[] {
  return ["--option", `s3.region=${region}`, "--option", "s3.bucket-lookup=path"];
}

export const restic = {
  /** Exits 0 when a repository exists (and the password opens it). */
  catConfig: (region: string): ResticCall => ({ args: [...common(region), "cat", "config"] }),
  init: (region: string): ResticCall => ({ args: [...common(region), "init"] }),
  backup: (region: string, env: string, volume: string, device: string): ResticCall => ({
    args: [
      ...common(region),
      "backup",
      "--json",
      "--host",
      snapshotHost(env),
      "--tag",
      volumeTag(volume),
      ".",
    ],
    cwd: device,
  }),
  snapshots: (region: string, env: string, volume?: string): ResticCall => ({
    args: [
      ...common(region),
      "snapshots",
      "--json",
      "--host",
      snapshotHost(env),
      ...(volume ? ["--tag", volumeTag(volume)] : []),
    ],
  }),
  forget: (region: string, env: string, volume: string, r: Retention): ResticCall => ({
    args: [
      ...common(region),
      "forget",
      "--prune",
      "--host",
      snapshotHost(env),
      "--tag",
      volumeTag(volume),
      "--group-by",
      "host,tags",
      ...retentionFlags(r),
    ],
  }),
  check: (region: string): ResticCall => ({ args: [...common(region), "check"] }),
  /** `json`: restic's progress as JSON lines on stdout (restic 0.17 and later print them for a restore). */
  restore: (region: string, snapshotId: string, target: string, json = false): ResticCall => ({
    args: [...common(region), ...(json ? ["--json"] : []), "restore", snapshotId, "--target", target],
  }),
  /**
   * The volume's newest snapshot, without listing first (an empty volume needs no comparison).
   * Without restic's lock (~0.2 s of a new node's way to a running app): it only reads, and the
   * worst a concurrent prune elsewhere can do is make it fail (into a temporary folder), which the
   * agent reports and tries again.
   */
  restoreLatest: (region: string, env: string, volume: string, target: string): ResticCall => ({
    args: [
      ...common(region),
      "--no-lock",
      "restore",
      "latest",
      "--host",
      snapshotHost(env),
      "--tag",
      volumeTag(volume),
      "--target",
      target,
    ],
  }),
  /** Removes stale locks left by a killed restic (only locks older than 30 minutes or of dead local processes). */
  unlock: (region: string): ResticCall => ({ args: [...common(region), "unlock"] }),
};

/** `{ last: 3, daily: 7 }` → `--keep-last 3 --keep-daily 7` (fixed order). */
export function retentionFlags(r: Retention): string[] {
  const out: string[] = [];
  for (const k of ["last", "hourly", "daily", "weekly", "monthly", "yearly"] as const) {
    const v = r[k];
    if (v !== undefined) out.push(`--keep-${k}`, String(v));
  }
  return out;
}

export interface BackupSummary {
  snapshotId: string;
  /** Bytes added to the repository (after deduplication and compression). */
  bytesAdded: number;
  filesNew: number;
  filesChanged: number;
  totalBytes: number;
}

/** The summary line of `restic backup --json`. */
export function parseBackupSummary(stdout: string): BackupSummary {
  for (const line of stdout.split("\n").reverse()) {
    if (!line.includes('"summary"')) continue;
    const j = JSON.parse(line) as Record<string, unknown>;
    if (j.message_type !== "summary") continue;
    return {
      snapshotId: String(j.snapshot_id),
      bytesAdded: Number(j.data_added ?? 0),
      filesNew: Number(j.files_new ?? 0),
      filesChanged: Number(j.files_changed ?? 0),
      totalBytes: Number(j.total_bytes_processed ?? 0),
    };
  }
  throw new Error("restic backup printed no summary");
}

export interface Snapshot {
  id: string;
  shortId: string;
  time: string;
  /** The volume it holds (its berth-volume tag). */
  volume: string | undefined;
}

/** `restic snapshots --json`, oldest first. */
export function parseSnapshots(stdout: string): Snapshot[] {
  const list = JSON.parse(stdout.trim() || "[]") as {
    id: string;
    short_id?: string;
    time: string;
    tags?: string[];
  }[];
  return (list ?? [])
    .map((s) => ({
      id: s.id,
      shortId: s.short_id ?? s.id.slice(0, 8),
      time: s.time,
      volume: s.tags?.find((t) => t.startsWith("berth-volume="))?.slice("berth-volume=".length),
    }))
    .sort((a, b) => Date.parse(a.time) - Date.parse(b.time));
}

/** The newest snapshot per volume. */
export function newestPerVolume(snapshots: readonly Snapshot[]): Map<string, Snapshot> {
  const out = new Map<string, Snapshot>();
  for (const s of snapshots) if (s.volume) out.set(s.volume, s); // oldest first: the last one wins
  return out;
}

/** `restoring <Snapshot 1a2b3c4d of [...] at 2026-01-01 10:00:00.1 +0000 UTC by ...> to ...` */
export function parseRestoring(stdout: string): { shortId: string; time: string } | undefined {
  const m =
    /restoring <Snapshot ([0-9a-f]{8}) of \[.*?\] at (\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?) ([+-]\d{4})/.exec(
      stdout,
    );
  if (!m) return undefined;
  const offset = `${(m[4] as string).slice(0, 3)}:${(m[4] as string).slice(3)}`;
  const ms = Date.parse(`${m[2]}T${(m[3] as string).replace(/(\.\d{3})\d*/, "$1")}${offset}`);
  return { shortId: m[1] as string, time: Number.isNaN(ms) ? `${m[2]} ${m[3]}` : new Date(ms).toISOString() };
}

/** restic found no snapshot for the host and tag. */
export function isNoSnapshot(stderr: string): boolean {
  return /no snapshot found|snapshot for criteria not found/i.test(stderr);
}

/** restic found no repository at the address (as opposed to a wrong password or no network). */
export function isMissingRepository(stderr: string): boolean {
  return /unable to open config file/i.test(stderr) && /(does not exist|NoSuchKey|not found)/i.test(stderr);
}

/** The files `restic backup --json` could not read (its error lines), at most 10. */
export function unreadItems(output: string): string[] {
  const items: string[] = [];
  for (const line of output.split("\n")) {
    if (!line.includes('"error"')) continue;
    try {
      const j = JSON.parse(line) as { message_type?: string; item?: string };
      if (j.message_type === "error" && j.item && !items.includes(j.item)) items.push(j.item);
    } catch {
      // not a JSON line
    }
  }
  return items.slice(0, 10);
}

/** One line an operator can act on, from restic's exit code and its error output. */
export function describeResticFailure(stderr: string, repository: string): string {
  const text = stderr.trim();
  if (/wrong password or no key found/i.test(text))
    return `wrong repository password for ${repository} (restic: wrong password or no key found): check the backup password secret`;
  if (isMissingRepository(text)) return `no restic repository at ${repository}`;
  if (
    /connection refused|no such host|i\/o timeout|dial tcp|context deadline exceeded|network is unreachable/i.test(
      text,
    )
  )
    return `the bucket is unreachable at ${repository}: ${lastFatal(text)}`;
  if (/access denied|InvalidAccessKeyId|SignatureDoesNotMatch|403/i.test(text))
    return `the bucket refused the backup credentials at ${repository}: ${lastFatal(text)}`;
  if (/NoSuchBucket|bucket does not exist|The specified bucket does not exist/i.test(text))
    return `the bucket of ${repository} does not exist: create it, or fix backup.target.bucket`;
  if (/repository is already locked/i.test(text))
    return `the repository is locked by another restic: ${lastFatal(text)}`;
  return lastFatal(text) || "restic failed without a message";
}

function lastFatal(text: string): string {
  const lines = text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  const fatal = lines.filter((l) => /^Fatal:|error/i.test(l));
  return (fatal.at(-1) ?? lines.at(-1) ?? "").slice(0, 400);
}

/** What one of restic's `--json` status lines says of a backup or a restore under way. */
export interface ResticProgress {
  /** 0 to 1. */
  fraction: number;
  bytesDone: number;
  totalBytes: number;
  filesDone: number;
  totalFiles: number;
  /** restic's estimate (backups only). */
  secondsRemaining?: number;
}

/**
 * A `{"message_type":"status",...}` line of `restic backup --json` (bytes_done, files_done) or
 * `restic restore --json` (bytes_restored, files_restored); undefined for any other line. The
 * `summary` line that ends a backup (or a restore, restic 0.17+) is read as the last status, 100%
 * of what was processed: a short backup may end before restic's first timed status has counts,
 * and the operator still sees where it ended.
 */
export function parseResticStatus(line: string): ResticProgress | undefined {
  const status = line.startsWith('{"message_type":"status"');
  if (!status && !line.startsWith('{"message_type":"summary"')) return undefined;
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const num = (...keys: string[]) => {
    for (const k of keys) if (typeof o[k] === "number") return o[k] as number;
    return 0;
  };
  if (!status) {
    const bytes = num("total_bytes_processed", "total_bytes", "bytes_restored");
    const files = num("total_files_processed", "total_files", "files_restored");
    if (bytes === 0 && files === 0) return undefined;
    return { fraction: 1, bytesDone: bytes, totalBytes: bytes, filesDone: files, totalFiles: files };
  }
  const remaining = o.seconds_remaining;
  return {
    fraction: Math.min(1, Math.max(0, num("percent_done"))),
    bytesDone: num("bytes_done", "bytes_restored"),
    totalBytes: num("total_bytes"),
    filesDone: num("files_done", "files_restored"),
    totalFiles: num("total_files"),
    ...(typeof remaining === "number" ? { secondsRemaining: remaining } : {}),
  };
}

/**
 * How often restic prints a status line (RESTIC_PROGRESS_FPS): four a second for an operator at
 * a terminal, once a minute otherwise (restic prints up to 60 a second to a pipe, all of which
 * the agent would hold until the command ends).
 */
export function progressFps(shown: boolean): string {
  return shown ? "4" : String(1 / 60);
}
