// The executor: carries out a workspace plan (plan.ts) on this node. It decides nothing the plan
// can decide; it runs each step through one runner (node-agent/docker.ts's isolatedRunner),
// records its phase, and follows the step's onFailure.
//
//   cloning        git clone --depth 1 --branch B; meanwhile the plan's prefetch chain is pulled
//   (lookup)       which of the exact image and the cache tags the registry holds
//   pulling cache  exact hit: the exact image (a tag of the prefetched one when it is the same)
//   building       miss: devcontainer build --cache-from <the plan's chain>
//   starting       devcontainer up from the image (no per-node UID rebuild)
//   pushing cache  after the workspace runs, in the background and bounded in time; a failure is
//                  reported, never fatal
//
// Every command gets an isolated environment (PATH, HOME, DOCKER_HOST and a DOCKER_CONFIG made
// for that command alone, holding only the login its step's `credentials` name), never the
// agent's own; the Docker config is removed when the command ends.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isId } from "../../contract/ids";
import { ISOLATED_BUILDER_DEFAULTS } from "../../contract/node/agent-config";
import { NODE_LAZY_PULL } from "../../contract/node/lazy-pull";
import { dockerConfigJson } from "../../contract/release/registry-credentials";
import {
  WORKSPACE_LIMIT_DEFAULTS,
  type WorkspaceDeclaration,
  type WorkspaceStatus,
} from "../../contract/workspace/declaration";
import type { WorkspaceSource } from "../../contract/workspace/spec";
import { writeFileAtomic } from "../../lib/atomic-write";
import { describeError } from "../../lib/errors";
import { whileFlushing } from "../../lib/flush";
import type { Logger } from "../../lib/log";
import { registerSecret } from "../../lib/log";
import { ProcessError, type RunResult } from "../../lib/process";
import { containerCpuNanos, dockerSocket } from "../access/docker-api";
import { findWorkspaceContainer, type WorkspaceContainer } from "../access/workspace-container";
import { type DockerRunner, isolatedRunner } from "../docker";
import type { BuilderSettings, IsolatedBuilder, RegistryMirror } from "./builder";
import * as builder from "./builder";
import {
  computeCacheKey,
  devcontainerCacheTags,
  exactTag,
  type LayerFormat,
  layerFormatOf,
} from "./cache-key";
import {
  cliResult,
  defaultDevcontainerCli,
  devcontainerCliVersion,
  dockerArchitecture,
  failureSummary,
  ranEveryStep,
  readableCliLog,
} from "./cli-output";
import * as cmd from "./commands";
import { ContainmentError, checkUntrustedLabel, checkUntrustedRepository } from "./containment";
import {
  DEFAULT_CONFIG_NAME,
  type DevcontainerConfigFile,
  readDevcontainerConfig,
} from "./devcontainer-config";
import { type CredentialHelper, withCredentialHelper } from "./follow-plan";
import { BranchFollower, type BuildSource } from "./follow-runner";
import {
  credentialScope,
  explainCloneFailure,
  type GitCredential,
  GitCredentialServers,
  isSshKey,
} from "./git-credentials";
import { noteCommit, notedCommit } from "./meta-folder";
import { chownTree, removeLeftoverDockerConfigs, withDockerConfig } from "./node-files";
import { type Credentials, planWorkspace, prefetchChain, type Step, type WorkspacePlan } from "./plan";
import { forwardRegistry } from "./registry-forwarder";
import { lookupTags, type RegistryLookup, registryHost } from "./registry-lookup";
import { prepareStart } from "./start";
import { type StateKey, stateVolumeName, volumePrefix } from "./state-volume";
import { readStatusFile, StatusRecorder, type StatusReporter } from "./status-recorder";

export { WORKSPACE_LABEL } from "./commands";

/** The image namespace of workspaces declared without a registry (images stay on the node). */
const LOCAL_NAMESPACE = "berth.local/workspace";

type Login = { username: string; password: string };

/**
 * What the executor runs: the workspace's source as contract/workspace/spec.ts declares it, its
 * id, and what the node took from the signed declaration (limits, generation, the registry
 * logins it unsealed).
 */
export type WorkspaceSpec = WorkspaceSource &
  Partial<Pick<WorkspaceDeclaration, "limits" | "generation" | "nodeId">> & {
    id: string;
    registry?: {
      namespace: string;
      /** The login builds get (pull-only, for untrusted branches); the agent pulls with it too. */
      login?: Login;
      /** The login the agent pushes the cache with, never handed to a build; `login` when absent. */
      pushLogin?: Login;
    };
    /** A private repository's token: git asks the agent for it (git-credentials.ts). */
    gitCredential?: GitCredential;
  };

export interface ExecutorOptions {
  /** Workspaces live under <stateRoot>/workspaces/<id>. */
  stateRoot: string;
  /** The Docker Engine (DOCKER_HOST); the default one when absent. */
  dockerHost?: string;
  /** The devcontainer CLI (node_modules/.bin/devcontainer). */
  devcontainerCli?: string;
  pushTimeoutSeconds?: number;
  /** Time limit of one registry lookup request. */
  lookupTimeoutMs?: number;
  /** Time limit of a clone, pull, build or start. */
  stepTimeoutSeconds?: number;
  log: Logger;
  report?: StatusReporter;
  /** Runs every command (tests pass a recording one); isolatedRunner by default. */
  runner?: DockerRunner;
  /** Which tags the registry holds (tests pass their own); lookupTags by default. */
  lookup?: typeof lookupTags;
  /** The BuildKit image and network of the builders untrusted builds run in (builder.ts). */
  isolatedBuilder?: BuilderSettings;
  /**
   * The lazy-pulling snapshotter's Docker config folder. On an engine whose images are eStargz,
   * the snapshotter fetches layers from the registry after the pull command has ended (on first
   * read, then in the background), so the workspace's pull login (read-only) is put there before
   * its images are pulled, merged per registry host, mode 0600. Default: a cloud workspace node's
   * (contract/node/lazy-pull.ts NODE_LAZY_PULL, on /run's tmpfs) when that folder exists.
   */
  snapshotterAuth?: string;
}

export interface UpResult {
  /** The status once the workspace runs (or failed). */
  status: WorkspaceStatus;
  /** Settles when the background work (cache push) is over, with the final status. */
  background: Promise<WorkspaceStatus>;
}

/** One bring-up's context: where it lives, what it reports to, what it must never print. */
function stateKey(spec: WorkspaceSpec): StateKey {
  return { workspaceId: spec.id, branch: spec.branch, trusted: spec.trusted };
}

/** What the clone was made for (no login). */
function specText(spec: WorkspaceSpec): string {
  return JSON.stringify({
    ...spec,
    registry: spec.registry ? { namespace: spec.registry.namespace } : undefined,
    gitCredential: undefined,
  });
}

/** A build from another folder than the clone (the followed branch's next commit, follow-runner.ts). */
type Source = BuildSource;

interface Run {
  spec: WorkspaceSpec;
  dir: string;
  repoDir: string;
  rec: StatusRecorder;
  log: Logger;
  redact: string[];
  start: boolean;
  /** The prefetch's result: the cache tag it pulled, if any. */
  prefetch: Promise<string | undefined>;
  flushing: <T>(work: Promise<T>) => Promise<T>;
  /** The format (and so the repository) of the images this engine pulls and pushes. */
  layers: LayerFormat;
}

export class WorkspaceExecutor {
  private readonly cli: string;
  private readonly cliVersion: string;
  private readonly run: DockerRunner;
  /** The private repositories' credential sockets, one per workspace that declares a token. */
  readonly git: GitCredentialServers;
  /** The follow and switch steps (follow-runner.ts): fetch, checkout, prebuild, tree move. */
  readonly follower: BranchFollower;

  constructor(private readonly o: ExecutorOptions) {
    this.git = new GitCredentialServers(join(o.stateRoot, "git-credentials"), o.log);
    this.cli = o.devcontainerCli ?? defaultDevcontainerCli();
    this.cliVersion = devcontainerCliVersion(this.cli);
    this.run = o.runner ?? isolatedRunner(o.dockerHost ? { dockerHost: o.dockerHost } : {});
    this.follower = new BranchFollower({
      run: this.run,
      dir: (id) => this.dir(id),
      credentialHelper: async (spec) => {
        await this.serveGitCredential(spec);
        return this.credentialHelper(spec);
      },
      build: async (spec, source) => (await this.bringUp(spec, false, source)).background,
      cliVersion: this.cliVersion,
      ...(o.stepTimeoutSeconds !== undefined ? { stepTimeoutSeconds: o.stepTimeoutSeconds } : {}),
    });
  }

  /** At the daemon's start: a Docker config left by a crash may hold a login; none outlives its command. */
  removeLeftovers(): string[] {
    return removeLeftoverDockerConfigs(join(this.o.stateRoot, "workspaces"));
  }

  dir(id: string): string {
    return join(this.o.stateRoot, "workspaces", id);
  }

  status(id: string): WorkspaceStatus | undefined {
    return readStatusFile(join(this.dir(id), "status.json"));
  }

  /** Workspaces this node has state for. */
  list(): string[] {
    const d = join(this.o.stateRoot, "workspaces");
    if (!existsSync(d)) return [];
    return readdirSync(d).filter(isId).sort();
  }

  /** The workspace's containers (by label). */
  async containers(id: string): Promise<string[]> {
    const r = await this.run(cmd.containersOf(id), { timeoutMs: 60_000 });
    return r.stdout.split("\n").filter((l) => l.trim() !== "");
  }

  /** The status with `patch` applied, written and reported (outside a bring-up). */
  async patchStatus(id: string, patch: Partial<WorkspaceStatus>): Promise<WorkspaceStatus | undefined> {
    const current = this.status(id);
    if (!current) return undefined;
    if (patch.commit) noteCommit(this.dir(id), patch.commit);
    const rec = new StatusRecorder(join(this.dir(id), "status.json"), current, this.o.report, (e) =>
      this.o.log.warn(
        { workspace: id, err: (e as Error).message },
        "could not report the workspace's status",
      ),
    );
    rec.update(patch);
    await rec.flush();
    return rec.status;
  }

  /** Stops the workspace's containers (its status unchanged: the caller says why). */
  async stopContainers(id: string): Promise<void> {
    const ids = await this.containers(id);
    if (ids.length > 0) await this.run(cmd.stopContainers(ids), { timeoutMs: 120_000 });
  }

  /** Stops an idle workspace's containers; its tree, home and container stay for the next start. */
  async stopIdle(id: string, idleSince: Date): Promise<WorkspaceStatus | undefined> {
    await this.stopContainers(id);
    return this.patchStatus(id, {
      state: "stopped",
      stopped: { reason: "idle", at: new Date().toISOString(), idleSince: idleSince.toISOString() },
    });
  }

  /** Starts a stopped workspace's containers again, as they were. */
  async wake(id: string): Promise<WorkspaceStatus | undefined> {
    const ids = await this.containers(id);
    if (ids.length === 0) throw new Error(`workspace ${id} has no container on this node to start`);
    await this.run(cmd.startContainers(ids), { timeoutMs: 120_000 });
    return this.patchStatus(id, { state: "running", stopped: undefined });
  }

  /** The home volume's folder on the node (the volume made when there is none yet). */
  async homeFolder(spec: WorkspaceSpec): Promise<string> {
    const volume = stateVolumeName(stateKey(spec));
    await this.run(cmd.createVolume(volume, { [cmd.WORKSPACE_LABEL]: spec.id }), { timeoutMs: 60_000 });
    const path = (await this.run(cmd.volumeMountpoint(volume), { timeoutMs: 60_000 })).stdout.trim();
    if (!path.startsWith("/")) throw new Error(`docker gave no folder for the volume ${volume}: ${path}`);
    return path;
  }

  /** A tree restored from a backup: this clone is the spec's (no new clone, no start over). */
  adoptRestoredTree(spec: WorkspaceSpec): void {
    writeFileSync(join(this.dir(spec.id), "spec.json"), specText(spec), { mode: 0o600 });
  }

  /** The workspace's running container: its id, remote user and the tree's folder inside it. */
  runningContainer(id: string): Promise<WorkspaceContainer> {
    return findWorkspaceContainer(id, join(this.dir(id), "repo"), dockerSocket(this.o.dockerHost));
  }

  /** A container's total CPU time (ns), from the engine's one-shot stats. */
  cpuNanos(containerId: string): Promise<number> {
    return containerCpuNanos(dockerSocket(this.o.dockerHost), containerId);
  }

  /** Removes the workspace's container, its builder and its folder (the clone with it). */
  async down(id: string): Promise<void> {
    const ids = await this.containers(id);
    if (ids.length > 0) await this.run(cmd.removeContainers(ids), { timeoutMs: 120_000 });
    const b = this.builderOf(id);
    await withDockerConfig(this.o.stateRoot, {}, (env) =>
      this.run(builder.removeBuilder(b), {
        env: { ...env, ...builder.builderEnv(b) },
        timeoutMs: 120_000,
        allowFailure: true,
      }),
    );
    await this.git.close(id);
    rmSync(this.dir(id), { recursive: true, force: true });
  }

  /** The workspace's isolated builder (builder.ts); buildx's own state is shared by the node's builders. */
  private builderOf(id: string): IsolatedBuilder {
    return builder.isolatedBuilder(
      id,
      this.o.isolatedBuilder ?? ISOLATED_BUILDER_DEFAULTS,
      join(this.o.stateRoot, "buildx"),
    );
  }

  /** Clones, builds or pulls the image and pushes the cache; does not start (a prebuild). */
  async build(spec: WorkspaceSpec): Promise<WorkspaceStatus> {
    return (await this.bringUp(spec, false)).background;
  }

  async up(spec: WorkspaceSpec): Promise<UpResult> {
    return this.bringUp(spec, true);
  }

  /**
   * `fn` with a Docker config of its own (DOCKER_CONFIG) holding the login `credentials` name, for
   * the registry and, in an isolated build, for its mirror too (BuildKit asks per host it contacts).
   */
  private withLogin<T>(
    r: Run,
    credentials: Credentials,
    fn: (env: Record<string, string>) => Promise<T>,
    mirror?: RegistryMirror,
  ) {
    const reg = r.spec.registry;
    const login =
      credentials === "none"
        ? undefined
        : credentials === "push"
          ? (reg?.pushLogin ?? reg?.login)
          : reg?.login;
    const hosts = reg && login ? builder.loginHosts(registryHost(reg.namespace), mirror) : [];
    return withDockerConfig(r.dir, Object.fromEntries(hosts.map((h) => [h, login!])), fn);
  }

  private call(
    r: Run,
    c: cmd.Command & { env?: Record<string, string> },
    env: Record<string, string>,
    o: { timeoutSeconds?: number; cwd?: string; allowFailure?: boolean; signal?: AbortSignal } = {},
  ): Promise<RunResult> {
    return this.run(c, {
      env: { ...c.env, ...env },
      timeoutMs: (o.timeoutSeconds ?? this.o.stepTimeoutSeconds ?? 1800) * 1000,
      redact: r.redact,
      ...(o.cwd ? { cwd: o.cwd } : {}),
      ...(o.allowFailure ? { allowFailure: true } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
    });
  }

  private exec(
    r: Run,
    step: Pick<Step, "command" | "credentials" | "timeoutSeconds">,
    mirror?: RegistryMirror,
  ): Promise<RunResult> {
    return this.withLogin(
      r,
      step.credentials,
      (env) =>
        this.call(r, step.command, env, {
          cwd: r.repoDir,
          ...(step.timeoutSeconds ? { timeoutSeconds: step.timeoutSeconds } : {}),
        }),
      mirror,
    );
  }

  private async bringUp(spec: WorkspaceSpec, start: boolean, source?: Source): Promise<UpResult> {
    const t0 = Date.now();
    const stopPrefetch = new AbortController();
    const r = await this.begin(spec, start, stopPrefetch.signal, source);
    try {
      await this.serveGitCredential(spec);
      if (!source && !existsSync(join(r.repoDir, ".git"))) await r.rec.phase("cloning", () => this.clone(r));
      const plan = await this.decide(r);
      if (plan.prefetch === "stop") stopPrefetch.abort();
      const { background, upResult } = await this.runPlan(r, plan);
      if (start) {
        const containerId = typeof upResult?.containerId === "string" ? upResult.containerId : undefined;
        const user = typeof upResult?.remoteUser === "string" ? upResult.remoteUser : undefined;
        if (containerId && user) await this.ownWorkspaceFolder(r, containerId, user);
        r.rec.update({
          state: "running",
          ...(containerId ? { containerId } : {}),
          secondsToRunning: Math.round((Date.now() - t0) / 10) / 100,
        });
      }
      const first = r.rec.status;
      const finish = this.pushInBackground(r, background);
      if (!start) return { status: await finish, background: finish };
      await r.rec.flush();
      return { status: first, background: finish };
    } catch (e) {
      stopPrefetch.abort();
      const refusals = e instanceof ContainmentError ? { refusals: [...e.refusals] } : {};
      r.rec.update({
        state: "failed",
        error: e instanceof ContainmentError ? e.message : failureSummary(e, 8),
        ...refusals,
      });
      await r.rec.flush();
      r.log.error({ err: failureSummary(e) }, "workspace failed");
      return { status: r.rec.status, background: Promise.resolve(r.rec.status) };
    }
  }

  /** The status recorder, the folder and the prefetch of one bring-up. */
  private async begin(
    spec: WorkspaceSpec,
    start: boolean,
    stopPrefetch: AbortSignal,
    source?: Source,
  ): Promise<Run> {
    const dir = this.dir(spec.id);
    const specFile = join(dir, "spec.json");
    // Another repository, branch or config than the clone was made for: start over.
    if (!source && existsSync(specFile) && readFileSync(specFile, "utf8") !== specText(spec))
      await this.down(spec.id);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const log = this.o.log.child({ workspace: spec.id });
    // The commit the agent put the tree at stays known while the clone does.
    const commit = source ? undefined : (this.status(spec.id)?.commit ?? notedCommit(this.dir(spec.id)));
    const rec = new StatusRecorder(
      source?.statusFile ?? join(dir, "status.json"),
      {
        workspaceId: spec.id,
        ...(spec.nodeId ? { nodeId: spec.nodeId } : {}),
        ...(spec.generation ? { generation: spec.generation } : {}),
        ...(commit && existsSync(join(dir, "repo", ".git")) ? { commit } : {}),
      },
      source ? undefined : this.o.report,
      (e) => log.warn({ err: (e as Error).message }, "could not report the workspace's status"),
    );
    rec.update({});
    const secrets = [
      spec.registry?.login?.password,
      spec.registry?.pushLogin?.password,
      spec.gitCredential && isSshKey(spec.gitCredential)
        ? spec.gitCredential.sshKey
        : spec.gitCredential?.password,
    ].filter((p): p is string => p !== undefined);
    for (const p of secrets) registerSecret(p);
    const r: Run = {
      spec,
      dir,
      repoDir: source?.repoDir ?? join(dir, "repo"),
      rec,
      log,
      redact: secrets,
      start,
      prefetch: Promise.resolve(undefined),
      flushing: (w) => w,
      layers: "zstd",
    };
    // Pulls and builds write an image's worth of layers; flushed while they run, the container
    // start after them does not pay for it (lib/flush.ts). Only where the engine's data root is
    // on this machine.
    const root = this.run(cmd.dataRoot(), { timeoutMs: 30_000, allowFailure: true })
      .then((o) => (o.exitCode === 0 ? o.stdout.trim() : ""))
      .catch(() => "")
      .then((d) => (d.startsWith("/") && existsSync(d) ? d : undefined));
    r.flushing = async (work) => {
      const d = await root;
      return d ? whileFlushing(d, work) : work;
    };
    // The cache tags do not depend on the key: the plan's chain is pulled while cloning.
    r.layers = await this.engineLayers();
    if (r.layers === "estargz") this.lendSnapshotterLogin(spec, r.log);
    const reg = spec.registry;
    if (reg) {
      const chain = prefetchChain(
        devcontainerCacheTags({ ...this.tagInput(spec, r.layers), namespace: reg.namespace }),
      );
      r.prefetch = r.flushing(
        this.withLogin(r, "pull", async (env) => {
          for (const tag of chain) {
            if (stopPrefetch.aborted) return undefined;
            const o = await this.call(r, cmd.pull(tag), env, {
              allowFailure: true,
              signal: stopPrefetch,
            }).catch(() => undefined);
            if (o?.exitCode === 0) return tag;
          }
          return undefined;
        }),
      );
    }
    return r;
  }

  private tagInput(spec: WorkspaceSpec, layers: LayerFormat) {
    return {
      namespace: spec.registry?.namespace ?? LOCAL_NAMESPACE,
      repo: spec.repositoryName,
      config: spec.config ?? DEFAULT_CONFIG_NAME,
      branch: spec.branch,
      defaultBranch: spec.defaultBranch,
      trusted: spec.trusted,
      layers,
    };
  }

  private layers: LayerFormat | undefined;

  /** The workspace's pull login for the snapshotter (see ExecutorOptions.snapshotterAuth). */
  private lendSnapshotterLogin(spec: WorkspaceSpec, log: Logger): void {
    const reg = spec.registry;
    const dir =
      this.o.snapshotterAuth ??
      (existsSync(NODE_LAZY_PULL.snapshotterDockerConfig)
        ? NODE_LAZY_PULL.snapshotterDockerConfig
        : undefined);
    if (!reg?.login || !dir) return;
    const file = join(dir, "config.json");
    let auths: Record<string, unknown> = {};
    try {
      auths = (JSON.parse(readFileSync(file, "utf8")) as { auths?: Record<string, unknown> }).auths ?? {};
    } catch {
      // none yet, or unreadable: written anew
    }
    const next = JSON.parse(dockerConfigJson({ [registryHost(reg.namespace)]: reg.login })) as {
      auths: Record<string, unknown>;
    };
    try {
      writeFileAtomic(file, JSON.stringify({ auths: { ...auths, ...next.auths } }), 0o600);
    } catch (e) {
      log.warn(
        { err: describeError(e), dir },
        "could not give the snapshotter the pull login: layers pull in full",
      );
    }
  }

  /**
   * The format of the images this engine pushes and pulls (cache-key.ts LayerFormat), from its
   * storage driver; asked once, and again while the engine does not answer (zstd meanwhile).
   */
  private async engineLayers(): Promise<LayerFormat> {
    if (this.layers) return this.layers;
    const o = await this.run(cmd.storageDriver(), { timeoutMs: 30_000, allowFailure: true }).catch(
      () => undefined,
    );
    if (o?.exitCode !== 0) return "zstd";
    this.layers = layerFormatOf(o.stdout);
    return this.layers;
  }

  /** Serves the workspace's git credential (on every pass: an agent restart loses the socket), or stops. */
  async serveGitCredential(spec: WorkspaceSpec): Promise<void> {
    const scope = credentialScope(spec.repository);
    if (spec.gitCredential && scope) await this.git.serve(spec.id, scope, spec.gitCredential);
    else if (this.git.has(spec.id)) await this.git.close(spec.id);
  }

  /** The workspace's git credential helper while the agent serves one. */
  private credentialHelper(spec: WorkspaceSpec): CredentialHelper | undefined {
    const scope = credentialScope(spec.repository);
    return scope && this.git.has(spec.id) ? { socketPath: this.git.socketPath(spec.id), scope } : undefined;
  }

  private async clone(r: Run): Promise<void> {
    rmSync(r.repoDir, { recursive: true, force: true });
    const withHelper = withCredentialHelper(
      cmd.gitClone(r.spec.repository, r.spec.branch, r.repoDir),
      this.credentialHelper(r.spec),
    );
    try {
      await this.run(withHelper, {
        env: { GIT_TERMINAL_PROMPT: "0" },
        timeoutMs: (this.o.stepTimeoutSeconds ?? 1800) * 1000,
        redact: r.redact,
      });
    } catch (e) {
      const hint = explainCloneFailure((e as Error).message, r.spec.gitCredential !== undefined);
      throw hint ? new Error(`${hint}: ${failureSummary(e, 4)}`) : e;
    }
    writeFileSync(join(r.dir, "spec.json"), specText(r.spec), { mode: 0o600 });
    // The commit the branch follows from (read now, while the clone is still the agent's alone).
    const head = await this.run(cmd.gitRevParse(join(r.repoDir, ".git"), "HEAD"), {
      timeoutMs: 30_000,
      allowFailure: true,
    });
    if (head.exitCode === 0) {
      r.rec.update({ commit: head.stdout.trim() });
      noteCommit(this.dir(r.spec.id), head.stdout.trim());
    }
  }

  /** Reads the config, computes the key, asks the registry, and plans. */
  private async decide(r: Run): Promise<WorkspacePlan> {
    const { spec, repoDir, log } = r;
    // A broken config (or one that names a missing file) falls back to the default image.
    let config: DevcontainerConfigFile | undefined;
    let fallbackReason: string | undefined;
    let key: string | undefined;
    try {
      config = readDevcontainerConfig(repoDir, spec.config);
      if (config && config.build.kind !== "compose")
        key = computeCacheKey({
          repoDir,
          config,
          cliVersion: this.cliVersion,
          architecture: dockerArchitecture(),
        }).key;
    } catch (e) {
      fallbackReason = `the devcontainer config cannot be used, the default image runs instead: ${(e as Error).message}`;
      config = undefined;
      log.warn({ reason: fallbackReason }, "devcontainer config unusable");
    }
    // An untrusted branch's config asks only for what stays inside its container, or nothing runs.
    if (config && !spec.trusted) {
      const refusals = checkUntrustedRepository(repoDir, config, volumePrefix(stateKey(spec)));
      if (refusals.length > 0) throw new ContainmentError(refusals);
    }
    const t = { ...this.tagInput(spec, r.layers), ...(config ? { config: config.name } : {}) };
    const tags = config && key ? { exact: exactTag({ ...t, key }), ...devcontainerCacheTags(t) } : undefined;
    let registry: RegistryLookup = {
      reachable: false,
      exactExists: false,
      branchCacheExists: false,
      defaultBranchCacheExists: false,
    };
    if (tags && spec.registry)
      registry = await (this.o.lookup ?? lookupTags)(
        tags,
        spec.registry.login,
        this.o.lookupTimeoutMs ?? 5000,
      );
    else if (tags) registry.reason = "no registry namespace is declared";
    if (registry.reason && config) {
      fallbackReason = `${registry.reason}: a plain build, no cache`;
      log.warn({ reason: registry.reason }, "building without the registry");
    }
    const plan = planWorkspace({
      workspaceFolder: repoDir,
      ...(config
        ? { config: { file: join(repoDir, config.file), content: config.config, kind: config.build.kind } }
        : {}),
      ...(tags ? { tags } : {}),
      registry,
      trusted: spec.trusted,
      isDefaultBranch: spec.branch === spec.defaultBranch,
      allowInitializeCommand: spec.allowInitializeCommand,
      defaultImage: spec.defaultImage,
      hasLogin: spec.registry?.login !== undefined,
      startConfigFile: join(r.dir, "start.json"),
      devcontainerCli: this.cli,
      idLabels: { [cmd.WORKSPACE_LABEL]: spec.id },
      pushTimeoutSeconds: this.o.pushTimeoutSeconds ?? 600,
      dockerEnv: this.o.dockerHost ? { DOCKER_HOST: this.o.dockerHost } : {},
      limits: { ...WORKSPACE_LIMIT_DEFAULTS, ...spec.limits },
      ...(spec.trusted ? {} : { isolatedBuilder: this.builderOf(spec.id) }),
    });
    r.rec.update({
      mode: plan.mode,
      ...(fallbackReason ? { fallbackReason } : {}),
      ...(key ? { cacheKey: key } : {}),
      image: plan.mode === "compose" ? tags?.exact : plan.image,
    });
    log.info({ mode: plan.mode, image: plan.image, cacheFrom: plan.cacheFrom }, "workspace plan");
    return plan;
  }

  /** The plan's steps in order: each recorded as its phase; a failure follows its onFailure. */
  private async runPlan(
    r: Run,
    plan: WorkspacePlan,
  ): Promise<{ background: Step[]; upResult?: Record<string, unknown> }> {
    let p: WorkspacePlan = plan;
    for (;;) {
      writeFileSync(join(r.dir, "start.json"), `${JSON.stringify(p.startConfig, null, 2)}\n`);
      let upResult: Record<string, unknown> | undefined;
      let current: Step | undefined;
      try {
        for (const step of p.steps) {
          if (step.background || (step.phase === "starting" && !r.start)) continue;
          current = step;
          const out = await r.rec.phase(step.phase, () => this.runStep(r, step, p));
          if (step.phase === "starting") upResult = cliResult(out.stdout);
        }
        return { background: p.steps.filter((s) => s.background), upResult };
      } catch (e) {
        const fallback = p.fallback;
        if (current?.onFailure !== "fallback" || !fallback) throw e;
        const why = `${current.phase} failed: ${failureSummary(e)}`;
        r.log.warn({ reason: why, fallback: fallback.mode }, "falling back");
        r.rec.update({
          mode: fallback.mode,
          fallbackReason: `${why}; ${fallback.instead}`,
          image: fallback.image,
        });
        p = fallback;
      }
    }
  }

  private async runStep(r: Run, step: Step, plan: WorkspacePlan): Promise<RunResult> {
    const w = step.whenPrefetched;
    if (w && (await r.prefetch) === w.tag)
      return this.exec(r, { command: w.command, credentials: "none", timeoutSeconds: 60 });
    if (step.checksLabel) {
      const out = await this.exec(r, step);
      const label = out.stdout.trim().split("\t")[2];
      const refusals = checkUntrustedLabel(label, plan.image, volumePrefix(stateKey(r.spec)));
      if (refusals.length > 0) throw new ContainmentError(refusals);
      return out;
    }
    if (step.phase === "starting")
      return this.withLogin(r, step.credentials, async (env) => {
        if (plan.startConfig.image)
          await prepareStart({
            run: (c, allowFailure) => this.call(r, c, env, { timeoutSeconds: 600, allowFailure }),
            id: r.spec.id,
            volume: stateVolumeName(stateKey(r.spec)),
            startConfig: plan.startConfig,
            startFile: join(r.dir, "start.json"),
            log: r.log,
            ...(this.git.has(r.spec.id) ? { git: this.gitMount(r.spec) } : {}),
          });
        return this.call(r, step.command, env, { cwd: r.repoDir });
      });
    const isBuild = step.phase === "building";
    if (step.builder) return this.isolatedBuild(r, step, step.builder);
    const buildLog = join(r.dir, "build.log");
    const keepLog = (out: { stdout: string; stderr: string }) => {
      writeFileSync(buildLog, readableCliLog(out.stdout, out.stderr));
      r.rec.update({ buildLog });
    };
    try {
      const out = await (isBuild || step.phase === "pulling cache"
        ? r.flushing(this.exec(r, step))
        : this.exec(r, step));
      if (isBuild) keepLog(out);
      return out;
    } catch (e) {
      if (isBuild && e instanceof ProcessError) keepLog(e.result);
      throw e;
    }
  }

  /**
   * An untrusted build: in the workspace's BuildKit container (made, or started, first), with the
   * registry forwarded to the builders' network while it runs when the registry is on the node's
   * loopback.
   */
  private async isolatedBuild(r: Run, step: Step, b: IsolatedBuilder): Promise<RunResult> {
    const buildLog = join(r.dir, "build.log");
    const keepLog = (out: { stdout: string; stderr: string }) => {
      writeFileSync(buildLog, readableCliLog(out.stdout, out.stderr));
      r.rec.update({ buildLog });
    };
    let release = async () => {};
    try {
      const mirror = await this.ensureBuilder(r, b);
      if (mirror) release = await forwardRegistry(mirror.mirror, mirror.registry);
      const out = await r.flushing(this.exec(r, step, mirror));
      keepLog(out);
      return out;
    } catch (e) {
      if (e instanceof ProcessError) keepLog(e.result);
      throw e;
    } finally {
      await release();
    }
  }

  /** Makes the workspace's builder (and the builders' network) unless it is there; its registry mirror. */
  private async ensureBuilder(r: Run, b: IsolatedBuilder): Promise<RegistryMirror | undefined> {
    const limits = { ...WORKSPACE_LIMIT_DEFAULTS, ...r.spec.limits };
    return this.withLogin(r, "none", async (login) => {
      const env = { ...login, ...builder.builderEnv(b) };
      const call = (c: cmd.Command, allowFailure = false) =>
        this.call(r, c, env, { timeoutSeconds: 300, ...(allowFailure ? { allowFailure } : {}) });
      if ((await call(builder.inspectNetwork(b), true)).exitCode !== 0) {
        // Another workspace may be making it at the same time.
        const made = await call(builder.createNetwork(b), true);
        if (made.exitCode !== 0) await call(builder.inspectNetwork(b));
      }
      const gateway = (await call(builder.networkGateways(b))).stdout
        .split("\n")
        .map((l) => l.trim())
        .find((l) => /^\d+\.\d+\.\d+\.\d+$/.test(l));
      const reg = r.spec.registry;
      const mirror = reg ? builder.registryMirror(registryHost(reg.namespace), gateway) : undefined;
      if ((await call(builder.inspectBuilder(b), true)).exitCode !== 0) {
        const configFile = join(r.dir, "buildkitd.toml");
        if (mirror) writeFileSync(configFile, builder.buildkitdToml(mirror), { mode: 0o600 });
        await call(builder.createBuilder(b, limits, mirror ? configFile : undefined));
      } else await call(builder.bootBuilder(b));
      await call(builder.limitBuilderPids(b, limits));
      return mirror;
    });
  }

  private gitMount(spec: WorkspaceSpec) {
    const scope = credentialScope(spec.repository);
    return scope ? { socketDir: this.git.socketDir(spec.id), scope } : undefined;
  }

  /** After the workspace runs: the pushes, one after the other, each bounded; never fatal. */
  private async pushInBackground(r: Run, steps: Step[]): Promise<WorkspaceStatus> {
    if (steps.length > 0) {
      r.rec.update({ push: "pending" });
      try {
        const buildLog = join(r.dir, "build.log");
        const full = existsSync(buildLog) && ranEveryStep(readFileSync(buildLog, "utf8"));
        await r.rec.phase("pushing cache", async () => {
          for (const step of steps) if (!step.onlyIfFullBuild || full) await this.exec(r, step);
        });
        r.rec.update({ push: "done" });
      } catch (e) {
        const msg = failureSummary(e, 2);
        r.log.warn({ err: msg }, "the cache push failed; the workspace runs on");
        r.rec.update({ push: "failed", pushError: msg });
      }
    }
    if (!r.start) r.rec.update({ state: "stopped" });
    await r.prefetch;
    await r.rec.flush();
    return r.rec.status;
  }

  /**
   * The clone belongs to the container's remote user, so the image needs no per-node UID update
   * (the rebuild caches cannot carry): the folder is handed to the image's user instead.
   */
  private async ownWorkspaceFolder(r: Run, containerId: string, user: string): Promise<void> {
    try {
      const out = await this.call(r, cmd.userIds(containerId, user), {}, { timeoutSeconds: 30 });
      const [uid, gid] = out.stdout.trim().split("\n").map(Number);
      if (uid === undefined || gid === undefined || !Number.isInteger(uid) || !Number.isInteger(gid)) return;
      chownTree(r.repoDir, uid, gid);
    } catch (e) {
      r.log.warn(
        { err: (e as Error).message.split("\n")[0] },
        "could not hand the workspace folder to the remote user",
      );
    }
  }
}
