// The pure decision of what the agent does to bring a workspace up, returned as data: the cache
// tags pulled while cloning, then the steps (each a command line: file + args + the exact
// environment and the registry login it gets), in order, with what a failure of each means and
// the plan that takes over when one asks for a fallback. The executor runs them in a loop.
//
// - exact hit: pull the exact image (or tag the prefetched one, when it is the same image), start
//   from it; no build.
// - miss: build with --cache-from a chain (this branch's cache tag, then the default branch's),
//   start, then in the background and bounded: push the exact image and move the branch's cache
//   tag. Only trusted builds write the exact image and trusted cache tags; an untrusted branch
//   may only write its own `untrusted-` tag, never one a trusted build reads.
// - registry unreachable: a plain build (no cache, no push). No config: the default image. A
//   build that fails: the default image (the executor keeps the build log for the user).
// Every command runs with an isolated environment (PATH and HOME, plus what is listed here): the
// agent's own environment never reaches the CLI or Docker. A step's login lives in a Docker
// config made for that step alone and removed when it ends.
import { posix } from "node:path";
import type { WorkspaceLimits } from "../../contract/workspace/declaration";
import { builderEnv, type IsolatedBuilder } from "./builder";
import type { CacheTags, DevcontainerTags } from "./cache-key";
import { LABEL_PROPERTIES } from "./cache-key";
import * as cmd from "./commands";
import type { BuildKind, DevcontainerConfig } from "./devcontainer-config";

export type Phase = "pulling cache" | "building" | "checking" | "starting" | "pushing cache";

export interface PlannedCommand extends cmd.Command {
  /** The whole environment besides PATH and HOME (run with isolatedEnv), DOCKER_CONFIG aside. */
  env: Record<string, string>;
}

/** The registry login a step's Docker config holds. */
export type Credentials = "none" | "pull" | "push";

export interface Step {
  phase: Phase;
  command: PlannedCommand;
  credentials: Credentials;
  /** What a failure means: stop with an error, switch to the plan's fallback, or only warn. */
  onFailure: "fail" | "fallback" | "warn";
  /** Runs after the workspace is up, without holding it (pushes). */
  background?: boolean;
  timeoutSeconds?: number;
  /** Only after a build that ran every step (its image's inline cache covers every layer). */
  onlyIfFullBuild?: boolean;
  /** When the prefetch pulled `tag` (the same image), this command instead (a tag, no pull). */
  whenPrefetched?: { tag: string; command: PlannedCommand };
  /** The command prints the image's label: the executor checks it against the untrusted allowlist. */
  checksLabel?: boolean;
  /** The build runs in this isolated builder (made on first use). */
  builder?: IsolatedBuilder;
}

export type PlanMode = "exact-hit" | "cached-build" | "plain-build" | "compose" | "default-image";

export interface WorkspacePlan {
  mode: PlanMode;
  /** The most any step's Docker config holds. */
  credentials: Credentials;
  steps: Step[];
  /** The plan that takes over when a step with onFailure "fallback" fails. */
  fallback?: FallbackPlan;
  /** The config `devcontainer up` starts from (the executor writes it to `startConfigFile`). */
  startConfig: Record<string, unknown>;
  /** The image the workspace runs. */
  image: string;
  /** --cache-from images of the build, in order (empty without a build). */
  cacheFrom: string[];
  /** The prefetch (cache tags pulled while cloning) is waited for, or stopped at once. */
  prefetch: "wait" | "stop";
}

export interface FallbackPlan extends WorkspacePlan {
  /** What the status says happens instead. */
  instead: string;
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
  /** Manifest digests of the tags that exist. */
  digests?: Partial<Record<keyof DevcontainerTags, string>>;
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

/**
 * The cache tags pulled while cloning, in order, the first one that exists wins: when nothing
 * changed since that tag's build, it is the exact image, and its pull gets the clone's head start.
 */
export function prefetchChain(tags: CacheTags): string[] {
  return [...new Set([tags.branch, tags.trustedBranch, tags.defaultBranch])];
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
  /** A registry login is declared (the default image may need it to be pulled). */
  hasLogin?: boolean;
  /** Where the executor writes `startConfig` (absolute). */
  startConfigFile: string;
  /** The devcontainer CLI executable. */
  devcontainerCli: string;
  /** Labels that find the workspace's container again (`--id-label`). */
  idLabels: Record<string, string>;
  pushTimeoutSeconds: number;
  /** Extra environment for Docker and the CLI (DOCKER_HOST); nothing else is passed. */
  dockerEnv?: Record<string, string>;
  /** The container's limits (`docker run` flags the agent adds to the start config). */
  limits?: Required<WorkspaceLimits>;
  /** Where untrusted builds run (the workspace's BuildKit container, builder.ts); needed for them. */
  isolatedBuilder?: IsolatedBuilder;
}

/** `docker run` flags for a workspace's limits. */
export function limitArgs(l: Required<WorkspaceLimits>): string[] {
  return ["--cpus", String(l.cpus), "--memory", `${l.memoryMb}m`, "--pids-limit", String(l.pids)];
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
  limits?: Required<WorkspaceLimits>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(config ?? {})) {
    if (BUILD_PROPERTIES.includes(k) || (LABEL_PROPERTIES as readonly string[]).includes(k)) continue;
    if (k === "initializeCommand" && !allowInitializeCommand) continue;
    out[k] = v;
  }
  out.image = image;
  // The agent's limits first: a trusted config's own runArgs come after them (and win).
  if (limits) out.runArgs = [...limitArgs(limits), ...(Array.isArray(out.runArgs) ? out.runArgs : [])];
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

const RANK: Record<Credentials, number> = { none: 0, pull: 1, push: 2 };

function withCredentials(p: Omit<WorkspacePlan, "credentials">): WorkspacePlan {
  const most = p.steps.reduce<Credentials>(
    (m, s) => (RANK[s.credentials] > RANK[m] ? s.credentials : m),
    "none",
  );
  return { ...p, credentials: most };
}

export function planWorkspace(i: WorkspacePlanInput): WorkspacePlan {
  const env: Record<string, string> = { ...i.dockerEnv };
  const planned = (c: cmd.Command): PlannedCommand => ({ ...c, env });
  const pullLogin: Credentials = i.hasLogin === false ? "none" : "pull";
  const upStep = (fromImage: boolean, credentials: Credentials): Step => ({
    phase: "starting",
    command: planned(
      cmd.devcontainerUp({
        cli: i.devcontainerCli,
        workspaceFolder: i.workspaceFolder,
        overrideConfig: i.startConfigFile,
        idLabels: i.idLabels,
        fromImage,
      }),
    ),
    credentials,
    onFailure: "fail",
  });
  // (A config that asks for the UID update builds one more image in `up`: BuildKit stays on.)
  const up = upStep(i.config?.content.updateRemoteUserUID !== true, "none");
  const defaultImage = (): WorkspacePlan =>
    withCredentials({
      mode: "default-image",
      // The default image may have to be pulled before it starts.
      steps: [upStep(true, pullLogin)],
      startConfig: startConfig(undefined, i.defaultImage, false, i.limits),
      image: i.defaultImage,
      cacheFrom: [],
      prefetch: "stop",
    });
  if (!i.config) return defaultImage();
  const fallback: FallbackPlan = {
    ...defaultImage(),
    instead: "the default image runs instead (see the build log)",
  };

  if (i.config.kind === "compose") {
    return withCredentials({
      mode: "compose",
      steps: [upStep(false, "none")],
      startConfig: composeStartConfig(i.config.file, i.config.content, i.allowInitializeCommand),
      image: "",
      cacheFrom: [],
      fallback,
      prefetch: "stop",
    });
  }
  const tags = i.tags;
  if (!tags) throw new Error("planWorkspace: tags are needed for a workspace with a devcontainer config");
  const start = startConfig(i.config.content, tags.exact, i.allowInitializeCommand, i.limits);
  // An untrusted workspace's image is checked before it starts (and before anything is pushed):
  // its label is what `devcontainer up` applies.
  const checked = (steps: Step[]): Step[] => {
    if (i.trusted) return steps;
    const at = steps.findIndex((s) => s.phase === "starting");
    const check: Step = {
      phase: "checking",
      command: planned(cmd.inspectImage(tags.exact)),
      credentials: "none",
      onFailure: "fail",
      checksLabel: true,
    };
    return [...steps.slice(0, at), check, ...steps.slice(at)];
  };
  const configFile = i.config.file;
  // An untrusted branch's build runs in its isolated builder, never in Docker's own.
  const isolated = !i.trusted ? i.isolatedBuilder : undefined;
  const build = (cacheFrom: string[], credentials: Credentials): Step => {
    if (!i.trusted && !isolated)
      throw new Error("planWorkspace: an untrusted build needs its isolated builder (builder.ts)");
    return {
      phase: "building",
      command: {
        ...cmd.devcontainerBuild({
          cli: i.devcontainerCli,
          workspaceFolder: i.workspaceFolder,
          configFile,
          imageName: tags.exact,
          cacheFrom,
        }),
        env: isolated ? { ...env, ...builderEnv(isolated) } : env,
      },
      credentials,
      onFailure: "fallback",
      ...(isolated ? { builder: isolated } : {}),
    };
  };
  const base = { startConfig: start, image: tags.exact };

  if (!i.registry.reachable) {
    return withCredentials({
      ...base,
      mode: "plain-build",
      steps: checked([build([], "none"), up]),
      fallback,
      cacheFrom: [],
      prefetch: "stop",
    });
  }

  if (i.registry.exactExists) {
    // The first tag of the prefetch chain the registry holds is what the prefetch pulls: when it
    // is the exact image, wait for that pull (a second one would compete for the same layers)
    // and tag it. Anything else: stop the prefetch. BuildKit fetches what its --cache-from chain
    // needs itself, so the pull only took the build's bandwidth and cores (measured on a
    // one-line change: 25.9–35.7 s building after the finished pull, 21.0–23.2 s with the pull
    // stopped).
    const d = i.registry.digests ?? {};
    const which = (["branch", "trustedBranch", "defaultBranch"] as const).find((k) => d[k] !== undefined);
    const prefetched = which && d[which] === d.exact ? tags[which] : undefined;
    const pullStep: Step = {
      phase: "pulling cache",
      command: planned(cmd.pull(tags.exact)),
      credentials: pullLogin,
      onFailure: "fallback",
      ...(prefetched
        ? { whenPrefetched: { tag: prefetched, command: planned(cmd.tag(prefetched, tags.exact)) } }
        : {}),
    };
    return withCredentials({
      ...base,
      mode: "exact-hit",
      steps: checked([pullStep, up]),
      // The registry listed the image but the pull failed: build it here, without the registry.
      fallback: {
        ...withCredentials({
          ...base,
          mode: "plain-build",
          steps: checked([{ ...build([], "none"), onFailure: "fail" }, up]),
          cacheFrom: [],
          prefetch: "stop",
        }),
        instead: "building here instead",
      },
      cacheFrom: [],
      prefetch: prefetched ? "wait" : "stop",
    });
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
  // nothing at all when the branch's own code runs on the node (initializeCommand).
  const branchCodeOnHost = i.allowInitializeCommand && i.config.content.initializeCommand !== undefined;
  const writesBranch = i.trusted || (!branchCodeOnHost && tags.branch !== tags.defaultBranch);
  const push: Step[] = [];
  const bg = (c: cmd.Command, credentials: Credentials): Step => ({
    phase: "pushing cache",
    command: planned(c),
    credentials,
    onFailure: "warn",
    background: true,
    timeoutSeconds: i.pushTimeoutSeconds,
  });
  if (i.trusted) push.push(bg(cmd.push(tags.exact, tags.layers), "push"));
  if (writesBranch) {
    const target = i.trusted && i.isDefaultBranch ? tags.defaultBranch : tags.branch;
    push.push(
      bg(cmd.tag(tags.exact, target), "none"),
      bg(cmd.push(target, tags.layers), "push"),
      { ...bg(cmd.tag(tags.exact, fullCacheTag(target)), "none"), onlyIfFullBuild: true },
      { ...bg(cmd.push(fullCacheTag(target), tags.layers), "push"), onlyIfFullBuild: true },
    );
  }
  return withCredentials({
    ...base,
    mode: "cached-build",
    steps: checked([build(cacheFrom, pullLogin), up, ...push]),
    fallback,
    cacheFrom,
    prefetch: "stop",
  });
}
