// A node's state on disk for one environment, under one root:
//   environments/<env>/releases/<seq>/payload.json    the signed payload as received
//   environments/<env>/releases/<seq>/compose.yaml    the rendered Compose file (0600)
//   environments/<env>/releases/<seq>/metadata.json   what the agent learned applying it
//   environments/<env>/current                       {"sequence": N}, replaced atomically
//   environments/<env>/apply.lock                     held while an apply runs
// `release(seq)` returns a stored release parsed once (envelope, Compose document, extras).
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../../lib/atomic-write";
import { scrubSecrets } from "../../lib/log";
import { acquireLock, type Lock } from "./lock";
import { parseStoredRelease, type Release } from "./release";

/**
 * Releases parsed from disk, by their payload file, kept while the file's text is unchanged:
 * a release is parsed once however many parts of the agent read it. Bounded (a node keeps a
 * few releases per environment).
 */
const parsed = new Map<string, { text: string; release: Release }>();
const PARSED_MAX = 64;

export interface ReleaseMetadata {
  sequence: number;
  receivedAt: string;
  appliedAt?: string;
  outcome?: "applied" | "failed" | "rolled-back";
  error?: string;
  /** Compose project name the release runs under. */
  project: string;
  /**
   * The Compose project each service's containers run in (written when its apply begins): a
   * start-first service the release did not change stays in an earlier release's project.
   * Absent (releases applied before it was recorded): `planApply`'s projects.
   */
  projects?: Record<string, string>;
  /**
   * Set when the release failed and its rollback began: an agent killed during the rollback
   * finishes it at restart instead of trying the failed release again.
   */
  rollingBack?: { reason: string; logTail?: string; startedAt: string };
}

export class ReleaseStore {
  readonly dir: string;

  constructor(
    root: string,
    readonly environmentId: string,
  ) {
    this.dir = join(root, "environments", environmentId);
    mkdirSync(join(this.dir, "releases"), { recursive: true, mode: 0o700 });
  }

  releaseDir(sequence: number): string {
    return join(this.dir, "releases", String(sequence));
  }

  /** Stores a verified release; files are complete before the folder is visible (rename). */
  save(sequence: number, files: { payload: string; compose: string; metadata: ReleaseMetadata }): void {
    const final = this.releaseDir(sequence);
    const staging = `${final}.partial`;
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(staging, { recursive: true, mode: 0o700 });
    writeFileAtomic(join(staging, "payload.json"), files.payload, 0o600);
    writeFileAtomic(join(staging, "compose.yaml"), files.compose, 0o600);
    writeFileAtomic(join(staging, "metadata.json"), `${JSON.stringify(files.metadata, null, 2)}\n`, 0o600);
    rmSync(final, { recursive: true, force: true });
    renameSync(staging, final);
  }

  has(sequence: number): boolean {
    return existsSync(join(this.releaseDir(sequence), "metadata.json"));
  }

  readCompose(sequence: number): string {
    return readFileSync(join(this.releaseDir(sequence), "compose.yaml"), "utf8");
  }

  composePath(sequence: number): string {
    return join(this.releaseDir(sequence), "compose.yaml");
  }

  readPayload(sequence: number): string {
    return readFileSync(join(this.releaseDir(sequence), "payload.json"), "utf8");
  }

  /** The stored release, parsed once (the store saves only verified releases). */
  release(sequence: number): Release {
    const path = join(this.releaseDir(sequence), "payload.json");
    const text = readFileSync(path, "utf8");
    const hit = parsed.get(path);
    if (hit && hit.text === text) return hit.release;
    const release = parseStoredRelease(text);
    parsed.delete(path);
    parsed.set(path, { text, release });
    if (parsed.size > PARSED_MAX) parsed.delete(parsed.keys().next().value as string);
    return release;
  }

  readMetadata(sequence: number): ReleaseMetadata {
    return JSON.parse(readFileSync(join(this.releaseDir(sequence), "metadata.json"), "utf8"));
  }

  writeMetadata(metadata: ReleaseMetadata): void {
    writeFileAtomic(
      join(this.releaseDir(metadata.sequence), "metadata.json"),
      // A failure's reason may quote a container's output, and with it a secret the app printed.
      `${JSON.stringify(scrubSecrets(metadata), null, 2)}\n`,
      0o600,
    );
  }

  /** Sequences stored, ascending; half-written folders (`.partial`) are ignored. */
  sequences(): number[] {
    const dir = join(this.dir, "releases");
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .filter((n) => /^\d+$/.test(n))
      .map(Number)
      .filter((n) => this.has(n))
      .sort((a, b) => a - b);
  }

  /** The release that is running, or undefined before the first successful apply. */
  current(): number | undefined {
    const p = join(this.dir, "current");
    if (!existsSync(p)) return undefined;
    const v = JSON.parse(readFileSync(p, "utf8")) as { sequence?: unknown };
    return typeof v.sequence === "number" && this.has(v.sequence) ? v.sequence : undefined;
  }

  setCurrent(sequence: number | undefined): void {
    const p = join(this.dir, "current");
    if (sequence === undefined) rmSync(p, { force: true });
    else writeFileAtomic(p, `${JSON.stringify({ sequence })}\n`, 0o600);
  }

  /** Highest sequence ever accepted (applied or not): a payload must be above it. */
  highestSeen(): number {
    return this.sequences().at(-1) ?? 0;
  }

  /** Removes the environment's state (its releases and lock; volumes live elsewhere). */
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  lock(): Lock {
    return acquireLock(join(this.dir, "apply.lock"), `an apply of environment ${this.environmentId}`);
  }

  /** Keeps the newest `keep` releases and the current one; removes older ones. */
  prune(keep: number): void {
    const cur = this.current();
    const all = this.sequences();
    for (const s of all.slice(0, Math.max(0, all.length - keep))) {
      if (s !== cur) rmSync(this.releaseDir(s), { recursive: true, force: true });
    }
  }
}
