// The exact cache key of a devcontainer image: SHA-256 over a canonical description of
// everything that decides the image, so a hit can be pulled and started with no build, and a
// fresh node computes the same key as the node that pushed it.
//
// In the description: the normalized config (what is built from what, build args, target and
// options, features with their options in the order written, the install-order override, and
// the properties the devcontainer CLI bakes into the image's `devcontainer.metadata` label), the
// Dockerfile's bytes, the bytes and modes of the context files the Dockerfile reads (after
// .dockerignore), local Features' files, the features lockfile, base image digests when the
// caller resolved them, the devcontainer CLI version and the architecture. Paths are
// repository-relative, so where the repository was cloned does not matter.
import { createHash } from "node:crypto";
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { join, posix } from "node:path";
import { dockerignoreMatcher } from "../../contract/build/context-hash";
import type { DevcontainerConfigFile } from "./devcontainer-config";
import { resolveInRepo } from "./devcontainer-config";
import { type DockerfileReferences, dockerfileReferences, sourceMatcher } from "./dockerfile-sources";

/** Bumped when the description changes shape, so old keys are never mistaken for new ones. */
export const CACHE_KEY_FORMAT = 1;

/** Properties of devcontainer.json the CLI records in the image's `devcontainer.metadata` label. */
export const LABEL_PROPERTIES = [
  "capAdd",
  "containerEnv",
  "containerUser",
  "customizations",
  "entrypoint",
  "forwardPorts",
  "hostRequirements",
  "init",
  "mounts",
  "onCreateCommand",
  "otherPortsAttributes",
  "overrideCommand",
  "portsAttributes",
  "postAttachCommand",
  "postCreateCommand",
  "postStartCommand",
  "privileged",
  "remoteEnv",
  "remoteUser",
  "securityOpt",
  "shutdownAction",
  "updateContentCommand",
  "updateRemoteUserUID",
  "userEnvProbe",
  "waitFor",
] as const;

export interface CacheKeyInput {
  /** The repository's working tree (a clone). */
  repoDir: string;
  config: DevcontainerConfigFile;
  /** The @devcontainers/cli version that builds (its generated Dockerfiles differ between versions). */
  cliVersion: string;
  /** The image's architecture, as Docker names it (amd64, arm64). */
  architecture: string;
  /** Digests of the base images (FROM, `image`) when the caller resolved them: moving tags then change the key. */
  baseImageDigests?: Record<string, string>;
}

export interface CacheKey {
  /** 64 hex characters. */
  key: string;
  /** What was hashed (canonical JSON), for debugging a miss. */
  description: string;
  /** Context files the key covers (repository-relative). */
  files: string[];
  /** The Dockerfile's references, when there is a Dockerfile. */
  references?: DockerfileReferences;
}

/** JSON with object keys sorted at every level (arrays keep their order); undefined is left out. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) out[k] = sortKeys(x);
    }
    return out;
  }
  return v;
}

function sha256(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Feature options as the CLI reads them: a string is the `version` option. */
function featureOptions(v: string | boolean | Record<string, unknown>): unknown {
  return typeof v === "string" ? { version: v } : v;
}

/**
 * The config part of the description: features become an ordered list of [id, options] so
 * their order counts while everything else is order-free.
 */
export function normalizedConfig(config: DevcontainerConfigFile): Record<string, unknown> {
  const c = config.config;
  const b = config.build;
  const label: Record<string, unknown> = {};
  for (const p of LABEL_PROPERTIES) label[p] = (c as Record<string, unknown>)[p];
  return {
    kind: b.kind,
    image: b.image,
    dockerfile: b.dockerfile,
    context: b.context,
    args: b.args,
    target: b.target,
    options: b.options,
    features: Object.entries(c.features ?? {}).map(([id, o]) => [id, featureOptions(o)]),
    overrideFeatureInstallOrder: c.overrideFeatureInstallOrder,
    initializeCommand: c.initializeCommand,
    label,
  };
}

/** The features lockfile beside the config (`.devcontainer-lock.json` beside `.devcontainer.json`). */
export function lockfilePath(config: DevcontainerConfigFile): string {
  const name = posix.basename(config.file).startsWith(".")
    ? ".devcontainer-lock.json"
    : "devcontainer-lock.json";
  return posix.join(config.dir, name);
}

interface FileEntry {
  path: string;
  /** "x" executable, "-" regular, "l" symbolic link (hash of the link text). */
  mode: string;
  sha256: string;
}

function entry(root: string, rel: string): FileEntry | undefined {
  const full = join(root, rel);
  const st = lstatSync(full);
  if (st.isSymbolicLink()) return { path: rel, mode: "l", sha256: sha256(readlinkSync(full)) };
  if (st.isFile())
    return { path: rel, mode: st.mode & 0o111 ? "x" : "-", sha256: sha256(readFileSync(full)) };
  return undefined;
}

/**
 * Every file under `dir` (relative to it), skipping the folders `skipDir` rules out. `.git` is a
 * folder like any other, as it is for Docker: it counts when the Dockerfile copies it and the
 * .dockerignore does not name it (its files differ from clone to clone, so such a key never hits:
 * a `.git` line in .dockerignore keeps it out of the image and the key).
 */
function listFiles(dir: string, skipDir: (rel: string) => boolean = () => false): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    const full = rel ? join(dir, rel) : dir;
    for (const d of readdirSync(full, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const r = rel ? `${rel}/${d.name}` : d.name;
      if (d.isDirectory()) {
        if (!skipDir(r)) walk(r);
      } else out.push(r);
    }
  };
  if (existsSync(dir) && statSync(dir).isDirectory()) walk("");
  return out;
}

/**
 * The .dockerignore BuildKit reads: `<Dockerfile>.dockerignore` beside the Dockerfile when it
 * exists, else the context's `.dockerignore`. Returns its path (repository-relative) and text.
 */
export function dockerignoreFor(
  repoDir: string,
  dockerfile: string,
  context: string,
): { file: string; text: string } | undefined {
  for (const f of [`${dockerfile}.dockerignore`, posix.join(context, ".dockerignore")]) {
    const full = join(repoDir, f);
    if (existsSync(full) && statSync(full).isFile()) return { file: f, text: readFileSync(full, "utf8") };
  }
  return undefined;
}

/** The context files a Dockerfile reads, after .dockerignore (context-relative, sorted). */
export function referencedContextFiles(
  contextDir: string,
  sources: readonly string[],
  dockerignore: string | undefined,
): string[] {
  const ignored = dockerignore ? dockerignoreMatcher(dockerignore) : () => false;
  // Without `!` exceptions an ignored folder holds nothing that is sent: skip it whole.
  const hasExceptions = dockerignore?.split("\n").some((l) => l.trim().startsWith("!")) ?? false;
  const matchers = sources.map(sourceMatcher);
  return listFiles(contextDir, (rel) => !hasExceptions && ignored(rel)).filter(
    (f) => !ignored(f) && matchers.some((m) => m(f)),
  );
}

export function computeCacheKey(input: CacheKeyInput): CacheKey {
  const { repoDir, config } = input;
  const b = config.build;
  const readOpt = (rel: string): Buffer | undefined => {
    const full = join(repoDir, rel);
    return existsSync(full) && statSync(full).isFile() ? readFileSync(full) : undefined;
  };

  let dockerfile: Record<string, unknown> | undefined;
  let files: FileEntry[] = [];
  let references: DockerfileReferences | undefined;
  if (b.kind === "dockerfile") {
    const df = b.dockerfile!;
    const context = b.context!;
    const bytes = readOpt(df);
    if (!bytes) throw new Error(`${config.file}: the Dockerfile ${df} does not exist in the repository`);
    references = dockerfileReferences(bytes.toString("utf8"), b.args, b.target);
    const sources = references.unresolved.length > 0 ? ["."] : references.sources;
    const ignore = dockerignoreFor(repoDir, df, context);
    const contextDir = join(repoDir, context);
    files = referencedContextFiles(contextDir, sources, ignore?.text).flatMap(
      (f) => entry(contextDir, f) ?? [],
    );
    dockerfile = {
      sha256: sha256(bytes),
      dockerignore: ignore ? { file: ignore.file, sha256: sha256(ignore.text) } : undefined,
      sources,
      remote: references.remote,
    };
  }

  // Local Features (`./name`, relative to the config's folder) are built from their files.
  const localFeatures = Object.keys(config.config.features ?? {})
    .filter((id) => id.startsWith("./") || id.startsWith("../"))
    .map((id) => {
      const dir = resolveInRepo(config.dir, id);
      if (dir === undefined) throw new Error(`${config.file}: the Feature ${id} is outside the repository`);
      const root = join(repoDir, dir);
      return [id, listFiles(root).flatMap((f) => entry(root, f) ?? [])];
    });

  const lock = readOpt(lockfilePath(config));
  const wanted = [...(references?.baseImages ?? []), ...(b.image ? [b.image] : [])];
  const digests = input.baseImageDigests ?? {};
  const description = canonicalJson({
    format: CACHE_KEY_FORMAT,
    cli: input.cliVersion,
    architecture: input.architecture,
    config: normalizedConfig(config),
    dockerfile,
    files,
    localFeatures,
    lockfile: lock ? sha256(lock) : null,
    baseImages: wanted.map((ref) => [ref, digests[ref] ?? null]),
  });
  return { key: sha256(description), description, files: files.map((f) => f.path), references };
}

// ---- Image names -------------------------------------------------------------------------------
// `<namespace>/<repo>/devcontainer:<config>-<key>` for exact images; cache tags for --cache-from
// chains are `cache-<config>.<branch>` (written by trusted builds only) and
// `untrusted-<config>.<branch>` (what an untrusted branch may write). The config is part of the
// cache tag, so named configs of one branch do not overwrite each other's cache. Every name is
// sanitized injectively: a name that had to change gets a short hash of the original, so
// `Feature/X` and `feature-x` (or an untrusted `MAIN` and the default `main`) never share a tag.

const TAG_MAX = 128;
const KEY_LENGTH = 64;

function shortHash(raw: string): string {
  return sha256(raw).slice(0, 8);
}

function withHashIfChanged(raw: string, clean: string, max: number): string {
  if (clean === raw && clean.length <= max && clean !== "") return clean;
  return `${clean.slice(0, max - 9).replace(/[-_.]+$/, "") || "x"}-${shortHash(raw)}`;
}

/** One repository path component: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`. */
export function sanitizeRepositoryComponent(raw: string, max = 64): string {
  const clean = raw
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, "-")
    .replace(/[._-]{2,}/g, "-")
    .replace(/^[._-]+|[._-]+$/g, "");
  return withHashIfChanged(raw, clean, max);
}

/** A part of a tag (config or branch name): `[a-z0-9_-]`, no dots (they separate parts), starting alphanumeric. */
export function sanitizeTagPart(raw: string, max: number): string {
  const clean = raw
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, "-")
    .replace(/-{2,}/g, "-")
    .replace(/^[_-]+|[_-]+$/g, "");
  return withHashIfChanged(raw, clean, max);
}

const NAMESPACE = /^[a-z0-9]+([._-]+[a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$/;

/**
 * How the images a node pushes store their layers. On a lazy workspace node (its engine's storage
 * driver is the stargz snapshotter: contract/node/lazy-pull.ts) they are eStargz, which the next
 * such node starts before the bytes are local; elsewhere zstd. Each format has a repository of its
 * own (`…/devcontainer-estargz`), so an engine without the snapshotter never pulls an eStargz
 * image: it would unpack each layer's table of contents (`stargz.index.json`,
 * `.no.prefetch.landmark`) into the container's root, as Docker's overlay2 does.
 */
export type LayerFormat = "estargz" | "zstd";

/** The format an engine of this storage driver pushes (`docker info --format {{.Driver}}`). */
export const layerFormatOf = (storageDriver: string): LayerFormat =>
  storageDriver.trim() === "stargz" ? "estargz" : "zstd";

/**
 * `<namespace>/<repo>/devcontainer` (`devcontainer-estargz` for eStargz images): the repository
 * (`owner/name` allowed) sanitized per component.
 */
export function devcontainerRepository(
  namespace: string,
  repo: string,
  layers: LayerFormat = "zstd",
): string {
  const ns = namespace.replace(/\/+$/, "");
  if (!NAMESPACE.test(ns))
    throw new Error(`registry namespace ${JSON.stringify(namespace)} is not a valid image name`);
  const parts = repo
    .split("/")
    .filter((p) => p !== "")
    .map((p) => sanitizeRepositoryComponent(p));
  if (parts.length === 0) throw new Error("a repository name is needed for the devcontainer image");
  return `${ns}/${parts.join("/")}/devcontainer${layers === "estargz" ? "-estargz" : ""}`;
}

export interface DevcontainerTags {
  /** The exact image: `<repository>:<config>-<key>`. */
  exact: string;
  /** This branch's cache tag that this build may read first (trusted or untrusted as fits). */
  branch: string;
  /** The default branch's cache tag (written by trusted builds of the default branch only). */
  defaultBranch: string;
  /** The trusted cache tag of this branch (read by untrusted builds after their own). */
  trustedBranch: string;
  /** How these images' layers are pushed (their repository's format). */
  layers: LayerFormat;
}

export interface TagInput {
  namespace: string;
  repo: string;
  /** The config's name (DEFAULT_CONFIG_NAME for the unnamed one). */
  config: string;
  key: string;
  branch: string;
  defaultBranch: string;
  trusted: boolean;
  /** Default zstd. */
  layers?: LayerFormat;
}

export type CacheTags = Omit<DevcontainerTags, "exact">;

/** The cache tags: they do not depend on the key, so they are known before the clone. */
export function devcontainerCacheTags(t: Omit<TagInput, "key">): CacheTags {
  const layers = t.layers ?? "zstd";
  const repository = devcontainerRepository(t.namespace, t.repo, layers);
  const config = sanitizeTagPart(t.config, TAG_MAX - KEY_LENGTH - 1);
  const cacheTag = (prefix: string, branch: string) =>
    `${repository}:${prefix}-${config}.${sanitizeTagPart(branch, TAG_MAX - prefix.length - config.length - 2)}`;
  const trustedBranch = cacheTag("cache", t.branch);
  return {
    branch: t.trusted ? trustedBranch : cacheTag("untrusted", t.branch),
    defaultBranch: cacheTag("cache", t.defaultBranch),
    trustedBranch,
    layers,
  };
}

/** The exact image of a key: `<repository>:<config>-<key>`. */
export function exactTag(t: Pick<TagInput, "namespace" | "repo" | "config" | "key" | "layers">): string {
  if (!/^[0-9a-f]{64}$/.test(t.key)) throw new Error(`not a cache key: ${t.key}`);
  const config = sanitizeTagPart(t.config, TAG_MAX - KEY_LENGTH - 1);
  return `${devcontainerRepository(t.namespace, t.repo, t.layers)}:${config}-${t.key}`;
}

export function devcontainerTags(t: TagInput): DevcontainerTags {
  return { exact: exactTag(t), ...devcontainerCacheTags(t) };
}
