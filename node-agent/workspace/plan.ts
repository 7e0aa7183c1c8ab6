// The pure decision of what the agent does to bring a workspace up, returned as data: the steps
// (each a command line: file + args + the exact environment it gets), in order, with what a
// failure of each means. The executor runs them with lib/process and reports the phases.
//
// - exact hit: pull the exact image, start from it; no build.
// - miss: build with --cache-from a chain (this branch's cache tag, then the default branch's),
//   start, then in the background and bounded: push the exact image and move the branch's cache
//   tag. Only trusted builds write the exact image and trusted cache tags; an untrusted branch
//   may only write its own `untrusted-` tag, never one a trusted build reads.
// - registry unreachable: a plain build (no cache, no push). No config: the default image. A
//   build that fails: the default image (the executor keeps the build log for the user).
// Every command runs with an isolated environment (lib/process `isolatedEnv`: PATH and HOME,
// plus what is listed here): the agent's own environment never reaches the CLI or Docker.
import { posix } from "node:path";
import type { DevcontainerTags } from "./cache-key";
import { LABEL_PROPERTIES } from "./cache-key";
import type { BuildKind, DevcontainerConfig } from "./devcontainer-config";

export type Phase = "pulling cache" | "building" | "starting" | "pushing cache";

export interface PlannedCommand {
  file: string;
  args: string[];
  /** The whole environment besides PATH and HOME (run with isolatedEnv). */
  env: Record<string, string>;
}

export interface Step {
  phase: Phase;
  command: PlannedCommand;
  /** What a failure means: stop with an error, switch to the fallback, or only warn. */
  onFailure: "fail" | "fallback" | "warn";
  /** Runs after the workspace is up, without holding it (pushes). */
  background?: boolean;
  timeoutSeconds?: number;
  /** Only after a build that ran every step (its image's inline cache covers every layer). */
  onlyIfFullBuild?: boolean;
}

export type PlanMode = "exact-hit" | "cached-build" | "plain-build" | "compose" | "default-image";

export interface WorkspacePlan {
  mode: PlanMode;
  /** What the temporary Docker config's credentials must allow. */
  credentials: "none" | "pull" | "pull-push";
  steps: Step[];
  /**
   * What to do instead when a step with onFailure "fallback" fails: after a failed pull, a plain
   * build; after a failed build, the default image (the executor keeps the build log).
   */
  fallback?: { mode: PlanMode; steps: Step[]; startConfig: Record<string, unknown> };
  /** The config `devcontainer up` starts from (the executor writes it to `startConfigFile`). */
  startConfig: Record<string, unknown>;
  /** --cache-from images of the build, in order (empty without a build). */
  cacheFrom: string[];
}

export interface RegistryState {
  reachable: boolean;
  exactExists: boolean;
  branchCacheExists: boolean;
  defaultBranchCacheExists: boolean;
  /** For untrusted builds: the trusted cache tag of the same branch exists. */
  trustedBranchCacheExists?: boolean;
  /** Which `<cache tag>.full` tags exist (see fullCacheTag). */
  fullTags?: readonly string[];
}

/**
 * The `.full` companion of a cache tag: the last image of that tag whose build ran every step.
 * BuildKit's inline cache (Docker's own builder) records only the steps a build ran, not those
 * it took from --cache-from, so an image built from cache cannot alone seed the next build; its
 * `.full` companion holds the records of the steps it skipped. Sanitized tag parts hold no dots,
 * so the suffix never meets another branch's tag.
 */
export function fullCacheTag(tag: string): string {
  return `${tag}.full`;
}

export interface WorkspacePlanInput {
  /** The clone (absolute). */
  workspaceFolder: string;
  /** The config: absolute path, parsed content and build kind; undefined when the repository has none. */
  config?: { file: string; content: DevcontainerConfig; kind: BuildKind };
  /** From devcontainerTags; needed with a config. */
  tags?: DevcontainerTags;
  registry: RegistryState;
  trusted: boolean;
  isDefaultBranch: boolean;
  /** The workspace declaration allows initializeCommand (it runs on the node). */
  allowInitializeCommand: boolean;
  /** The image when there is no config, or when the build failed. */
  defaultImage: string;
  /** This build's own temporary Docker config folder (DOCKER_CONFIG). */
  dockerConfigDir: string;
  /** Where the executor writes `startConfig` (absolute). */
  startConfigFile: string;
  /** The devcontainer CLI executable. */
  devcontainerCli: string;
  /** Labels that find the workspace's container again (`--id-label`). */
  idLabels: Record<string, string>;
  pushTimeoutSeconds: number;
  /** Extra environment for Docker and the CLI (DOCKER_HOST); nothing else is passed. */
  dockerEnv?: Record<string, string>;
}

/** Properties that say how the image is built: gone from the start config, which names the image. */
const BUILD_PROPERTIES = [
  "image",
  "build",
  "dockerFile",
  "context",
  "features",
  "overrideFeatureInstallOrder",
];

/**
 * The config `devcontainer up` gets: the image to start, and the repository's properties that
 * are not already in the image's metadata label (the cache key covers the label, so an exact
 * image carries the current values). initializeCommand only where it is allowed.
 */
export function startConfig(
  config: DevcontainerConfig | undefined,
  image: string,
  allowInitializeCommand: boolean,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(config ?? {})) {
    if (BUILD_PROPERTIES.includes(k) || (LABEL_PROPERTIES as readonly string[]).includes(k)) continue;
    if (k === "initializeCommand" && !allowInitializeCommand) continue;
    out[k] = v;
  }
  out.image = image;
  return out;
}

/** A compose-based config, as given but with its Compose files made absolute (the copy lives elsewhere). */
function composeStartConfig(
  configFile: string,
  config: DevcontainerConfig,
  allowInitializeCommand: boolean,
): Record<string, unknown> {
  const dir = posix.dirname(configFile);
  const files = config.dockerComposeFile;
  const abs = (f: string) => posix.resolve(dir, f);
  const out: Record<string, unknown> = {
    ...config,
    dockerComposeFile: Array.isArray(files) ? files.map(abs) : files !== undefined ? abs(files) : undefined,
  };
  if (!allowInitializeCommand) delete out.initializeCommand;
  return out;
}

export function planWorkspace(i: WorkspacePlanInput): WorkspacePlan {
  const env: Record<string, string> = { ...i.dockerEnv, DOCKER_CONFIG: i.dockerConfigDir };
  const docker = (...args: string[]): PlannedCommand => ({ file: "docker", args, env });
  const cli = (...args: string[]): PlannedCommand => ({ file: i.devcontainerCli, args, env });
  const idLabels = Object.entries(i.idLabels)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .flatMap(([k, v]) => ["--id-label", `${k}=${v}`]);
  // `devcontainer up` from an image: nothing left to build, so none of the CLI's own probes for
  // building (`docker buildx version`) or for the git root (`git rev-parse`: the workspace folder
  // is the clone's root) stand between the pull and the running container.
  const upStep = (fromImage: boolean): Step => ({
    phase: "starting",
    command: cli(
      "up",
      "--workspace-folder",
      i.workspaceFolder,
      "--override-config",
      i.startConfigFile,
      ...idLabels,
      // The image was built for any node: no per-node `-uid` rebuild unless the config asks.
      "--update-remote-user-uid-default",
      "never",
      "--mount-workspace-git-root",
      "false",
      ...(fromImage ? ["--buildkit", "never"] : []),
      "--log-format",
      "json",
    ),
    onFailure: "fail",
  });
  // (A config that asks for the UID update builds one more image in `up`: BuildKit stays on.)
  const up = upStep(i.config?.content.updateRemoteUserUID !== true);
  const defaultImage = (): WorkspacePlan => ({
    mode: "default-image",
    credentials: "none",
    steps: [up],
    startConfig: startConfig(undefined, i.defaultImage, false),
    cacheFrom: [],
  });
  if (!i.config) return defaultImage();
  const { steps: fallbackSteps, startConfig: fallbackConfig } = defaultImage();
  const fallback = { mode: "default-image" as const, steps: fallbackSteps, startConfig: fallbackConfig };

  if (i.config.kind === "compose") {
    return {
      mode: "compose",
      credentials: "none",
      steps: [upStep(false)],
      startConfig: composeStartConfig(i.config.file, i.config.content, i.allowInitializeCommand),
      cacheFrom: [],
      fallback,
    };
  }
  const tags = i.tags;
  if (!tags) throw new Error("planWorkspace: tags are needed for a workspace with a devcontainer config");
  const start = startConfig(i.config.content, tags.exact, i.allowInitializeCommand);
  const build = (cacheFrom: string[]): Step => ({
    phase: "building",
    command: cli(
      "build",
      "--workspace-folder",
      i.workspaceFolder,
      "--config",
      i.config!.file,
      "--image-name",
      tags.exact,
      // The CLI builds with `docker buildx build --build-arg BUILDKIT_INLINE_CACHE=1` itself
      // (it has no --build-arg flag): the image carries its cache metadata when pushed.
      ...cacheFrom.flatMap((c) => ["--cache-from", c]),
      "--log-format",
      "json",
    ),
    onFailure: "fallback",
  });

  if (!i.registry.reachable) {
    return {
      mode: "plain-build",
      credentials: "none",
      steps: [build([]), up],
      fallback,
      startConfig: start,
      cacheFrom: [],
    };
  }

  if (i.registry.exactExists) {
    return {
      mode: "exact-hit",
      credentials: "pull",
      steps: [
        { phase: "pulling cache", command: docker("pull", "--quiet", tags.exact), onFailure: "fallback" },
        up,
      ],
      // The registry listed the image but the pull failed: build it here, without the registry.
      fallback: { mode: "plain-build", steps: [{ ...build([]), onFailure: "fail" }, up], startConfig: start },
      startConfig: start,
      cacheFrom: [],
    };
  }

  const cacheFrom: string[] = [];
  const full = new Set(i.registry.fullTags ?? []);
  const chain = (tag: string, exists: boolean | undefined) => {
    if (cacheFrom.includes(tag)) return;
    if (exists) cacheFrom.push(tag);
    if (full.has(fullCacheTag(tag))) cacheFrom.push(fullCacheTag(tag));
  };
  chain(tags.branch, i.registry.branchCacheExists);
  if (!i.trusted && tags.trustedBranch !== tags.branch)
    chain(tags.trustedBranch, i.registry.trustedBranchCacheExists);
  chain(tags.defaultBranch, i.registry.defaultBranchCacheExists);

  // What this build may write. The default branch's tag is written only by a trusted build of
  // the default branch; an untrusted build writes only its own untrusted tag (its `branch`), and
  // nothing at all when the branch's own code runs on the node (initializeCommand) and could read
  // the push credentials.
  const branchCodeOnHost = i.allowInitializeCommand && i.config.content.initializeCommand !== undefined;
  const writesBranch = i.trusted || (!branchCodeOnHost && tags.branch !== tags.defaultBranch);
  const push: Step[] = [];
  const bg = (command: PlannedCommand): Step => ({
    phase: "pushing cache",
    command,
    onFailure: "warn",
    background: true,
    timeoutSeconds: i.pushTimeoutSeconds,
  });
  if (i.trusted) push.push(bg(docker("push", "--quiet", tags.exact)));
  if (writesBranch) {
    const target = i.trusted && i.isDefaultBranch ? tags.defaultBranch : tags.branch;
    push.push(
      bg(docker("tag", tags.exact, target)),
      bg(docker("push", "--quiet", target)),
      { ...bg(docker("tag", tags.exact, fullCacheTag(target))), onlyIfFullBuild: true },
      { ...bg(docker("push", "--quiet", fullCacheTag(target))), onlyIfFullBuild: true },
    );
  }
  return {
    mode: "cached-build",
    credentials: push.length > 0 ? "pull-push" : "pull",
    steps: [build(cacheFrom), up, ...push],
    fallback,
    startConfig: start,
    cacheFrom,
  };
}

/** The config a fallback start uses (the default image, nothing from the repository). */
export function fallbackStartConfig(defaultImage: string): Record<string, unknown> {
  return startConfig(undefined, defaultImage, false);
}
