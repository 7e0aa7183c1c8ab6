// The executor: the thin I/O shell that carries out a workspace plan (plan.ts) on this node.
//
//   cloning        git clone --depth 1 --branch B; meanwhile the branch's last cache image is
//                  pulled (on an exact hit that is the same image, so its pull costs nothing after)
//   (lookup)       which of the exact image and the cache tags the registry holds
//   pulling cache  exact hit: docker pull of the exact image, no build
//   building       miss: devcontainer build --cache-from <branch tag> --cache-from <default tag>
//   starting       devcontainer up from the image (no per-node UID rebuild)
//   pushing cache  after the workspace runs, in the background and bounded in time: push the exact
//                  image and move the branch's cache tag; a failure is reported, never fatal
//
// Every command gets an isolated environment (PATH, HOME, DOCKER_HOST and a DOCKER_CONFIG of its
// own, holding only the namespace's registry login), never the agent's own.
import {
  chownSync,
  existsSync,
  lchownSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join, posix } from "node:path";
import { stripVTControlCharacters } from "node:util";
import type { WorkspaceStatus } from "../../contract/workspace/declaration";
import { whileFlushing } from "../../lib/flush";
import type { Logger } from "../../lib/log";
import { registerSecret } from "../../lib/log";
import { lastLines, ProcessError, type RunResult, run } from "../../lib/process";
import { dockerConfigJson } from "../apply/registry-auth";
import { computeCacheKey, devcontainerTags } from "./cache-key";
import {
  DEFAULT_CONFIG_NAME,
  type DevcontainerConfigFile,
  readDevcontainerConfig,
} from "./devcontainer-config";
import { type PlannedCommand, planWorkspace, type Step, type WorkspacePlan } from "./plan";
import { lookupTags, type RegistryLookup, registryHost } from "./registry-lookup";
import { homeOf, remoteUserOf, stateVolumeName, withStateMount } from "./state-volume";
import { readStatusFile, StatusRecorder, type StatusReporter } from "./status-recorder";

export interface WorkspaceSpec {
  id: string;
  /** What git clones (URL or absolute path). */
  repository: string;
  /** `owner/name`, for image names. */
  repositoryName: string;
  branch: string;
  defaultBranch: string;
  config?: string;
  trusted: boolean;
  allowInitializeCommand: boolean;
  defaultImage: string;
  registry?: { namespace: string; login?: { username: string; password: string } };
  generation?: number;
  nodeId?: string;
}

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
}

export interface UpResult {
  /** The status once the workspace runs (or failed). */
  status: WorkspaceStatus;
  /** Settles when the background work (cache push) is over, with the final status. */
  background: Promise<WorkspaceStatus>;
}

export const WORKSPACE_LABEL = "berth.workspace";

/** The devcontainer CLI beside this project (or the agent bundle's node_modules). */
export function defaultDevcontainerCli(): string {
  const pkg = require.resolve("@devcontainers/cli/package.json");
  return join(pkg, "..", "devcontainer.js");
}

export function devcontainerCliVersion(cli: string): string {
  const pkg = join(cli, "..", "package.json");
  return (JSON.parse(readFileSync(pkg, "utf8")) as { version: string }).version;
}

export function dockerArchitecture(arch = process.arch): string {
  return (
    (
      { x64: "amd64", arm64: "arm64", arm: "arm", ppc64: "ppc64le", s390x: "s390x" } as Record<string, string>
    )[arch] ?? arch
  );
}

/** The last JSON object line of the CLI's stdout (its result). */
export function cliResult(stdout: string): Record<string, unknown> | undefined {
  for (const line of stdout.trim().split("\n").reverse()) {
    const t = line.trim();
    if (!t.startsWith("{")) continue;
    try {
      const v = JSON.parse(t) as Record<string, unknown>;
      if ("outcome" in v) return v;
    } catch {
      // a log line
    }
  }
  return undefined;
}

/**
 * The CLI's JSON log lines (`--log-format json`) as the text a person reads: each entry's text
 * (BuildKit's plain progress among them), colours removed; other lines as they are.
 */
export function readableCliLog(...outputs: string[]): string {
  const out: string[] = [];
  for (const line of outputs.join("\n").split("\n")) {
    const t = line.trim();
    if (t === "") continue;
    let text = line;
    if (t.startsWith("{")) {
      try {
        const v = JSON.parse(t) as { text?: unknown; outcome?: unknown; message?: unknown };
        if (typeof v.text === "string") text = v.text;
        else if (v.outcome !== undefined) text = `result: ${t}`;
      } catch {
        // not JSON after all
      }
    }
    const clean = stripVTControlCharacters(text).replace(/\r/g, "").trimEnd();
    if (clean !== "") out.push(clean);
  }
  return `${out.join("\n")}\n`;
}

/**
 * What went wrong in a failed command, in a few lines a person reads: for the devcontainer CLI,
 * its result's description and BuildKit's last `ERROR:` line (the failing step and its exit
 * code), never the CLI's own stack trace; for other commands, the message's last lines.
 */
export function failureSummary(e: unknown, lines = 3): string {
  const message = e instanceof Error ? e.message : String(e);
  const withoutStack = message
    .split("\n")
    .filter((l) => !/^\s+at /.test(l))
    .join("\n");
  if (!(e instanceof ProcessError)) return lastLines(withoutStack, lines);
  const result = cliResult(e.result.stdout);
  const description = typeof result?.description === "string" ? result.description : undefined;
  const buildError = readableCliLog(e.result.stdout, e.result.stderr)
    .split("\n")
    .reverse()
    .find((l) => /^(#\d+ )?ERROR: /.test(l))
    ?.replace(/^#\d+ /, "");
  if (!description && !buildError) return lastLines(withoutStack, lines);
  return [description, buildError].filter((x) => x !== undefined).join(" ");
}

/**
 * A build ran every Dockerfile step (none came from a cache), so its image's inline cache covers
 * every layer: BuildKit's plain progress has no `#N CACHED` for a `#N [stage i/n] ...` step
 * other than FROM.
 */
export function ranEveryStep(buildLog: string): boolean {
  const lines = buildLog.split("\n");
  const steps = new Set<string>();
  for (const l of lines) {
    const m = l.match(/^#(\d+) \[[^\]]* \d+\/\d+\] (\S+)/);
    if (m && m[2] !== "FROM") steps.add(m[1]!);
  }
  return (
    steps.size > 0 &&
    !lines.some((l) => {
      const m = l.match(/^#(\d+) CACHED$/);
      return m !== null && steps.has(m[1]!);
    })
  );
}

export class WorkspaceExecutor {
  private readonly cli: string;
  private readonly cliVersion: string;

  constructor(private readonly o: ExecutorOptions) {
    this.cli = o.devcontainerCli ?? defaultDevcontainerCli();
    this.cliVersion = devcontainerCliVersion(this.cli);
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
    return readdirSync(d)
      .filter((n) => /^[a-z0-9][a-z0-9-]{0,62}$/.test(n))
      .sort();
  }

  private dockerEnv(): Record<string, string> {
    return this.o.dockerHost ? { DOCKER_HOST: this.o.dockerHost } : {};
  }

  private exec(
    c: PlannedCommand,
    timeoutSeconds: number,
    redact: string[],
    cwd?: string,
  ): Promise<RunResult> {
    return run(c.file, c.args, {
      isolatedEnv: true,
      env: c.env,
      timeoutMs: timeoutSeconds * 1000,
      redact,
      ...(cwd ? { cwd } : {}),
    });
  }

  /** The engine's data root when it is a folder of this machine (a local engine), else undefined. */
  private async dataRoot(env: Record<string, string>): Promise<string | undefined> {
    const r = await run("docker", ["info", "--format", "{{.DockerRootDir}}"], {
      isolatedEnv: true,
      env,
      timeoutMs: 30_000,
      allowFailure: true,
    }).catch(() => undefined);
    const root = r?.exitCode === 0 ? r.stdout.trim() : "";
    return root.startsWith("/") && existsSync(root) ? root : undefined;
  }

  /** The workspace's containers (by label). */
  async containers(id: string): Promise<string[]> {
    const r = await run("docker", ["ps", "-aq", "--filter", `label=${WORKSPACE_LABEL}=${id}`], {
      isolatedEnv: true,
      env: this.dockerEnv(),
      timeoutMs: 60_000,
    });
    return r.stdout.split("\n").filter((l) => l.trim() !== "");
  }

  /** Removes the workspace's container and its folder (the clone with it). */
  async down(id: string): Promise<void> {
    const ids = await this.containers(id);
    if (ids.length > 0)
      await run("docker", ["rm", "-f", "-v", ...ids], {
        isolatedEnv: true,
        env: this.dockerEnv(),
        timeoutMs: 120_000,
      });
    rmSync(this.dir(id), { recursive: true, force: true });
  }

  /** Clones, builds or pulls the image and pushes the cache; does not start (a prebuild). */
  async build(spec: WorkspaceSpec): Promise<WorkspaceStatus> {
    const r = await this.bringUp(spec, false);
    return r.background;
  }

  async up(spec: WorkspaceSpec): Promise<UpResult> {
    return this.bringUp(spec, true);
  }

  private async bringUp(spec: WorkspaceSpec, start: boolean): Promise<UpResult> {
    const t0 = Date.now();
    const dir = this.dir(spec.id);
    const repoDir = join(dir, "repo");
    const specFile = join(dir, "spec.json");
    const specText = JSON.stringify({
      ...spec,
      registry: spec.registry ? { namespace: spec.registry.namespace } : undefined,
    });
    // Another repository, branch or config than the clone was made for: start over.
    if (existsSync(specFile) && readFileSync(specFile, "utf8") !== specText) await this.down(spec.id);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const log = this.o.log.child({ workspace: spec.id });
    const rec = new StatusRecorder(
      join(dir, "status.json"),
      {
        workspaceId: spec.id,
        ...(spec.nodeId ? { nodeId: spec.nodeId } : {}),
        ...(spec.generation ? { generation: spec.generation } : {}),
      },
      this.o.report,
      (e) => log.warn({ err: (e as Error).message }, "could not report the workspace's status"),
    );
    rec.update({});
    const login = spec.registry?.login;
    const redact = login ? [login.password] : [];
    if (login) registerSecret(login.password);
    // This build's own Docker config: the namespace's registry login and nothing else.
    const dockerConfigDir = mkdtempSync(join(dir, "docker-config-"));
    if (login && spec.registry)
      writeFileSync(
        join(dockerConfigDir, "config.json"),
        dockerConfigJson({ [registryHost(spec.registry.namespace)]: login }),
        { mode: 0o600 },
      );
    const env = { ...this.dockerEnv(), DOCKER_CONFIG: dockerConfigDir };
    const stepTimeout = this.o.stepTimeoutSeconds ?? 1800;
    const cleanup = () => rmSync(dockerConfigDir, { recursive: true, force: true });
    // The cache pull that starts while cloning; stopped once the plan shows the workspace does
    // not start from that image, or when bringing it up fails.
    const stopPrefetch = new AbortController();

    try {
      const configName = spec.config ?? DEFAULT_CONFIG_NAME;
      // The cache tags do not depend on the key: pull the branch's last image while cloning.
      const preTags = spec.registry
        ? devcontainerTags({
            namespace: spec.registry.namespace,
            repo: spec.repositoryName,
            config: configName,
            key: "0".repeat(64),
            branch: spec.branch,
            defaultBranch: spec.defaultBranch,
            trusted: spec.trusted,
          })
        : undefined;
      // Pulls and builds write an image's worth of layers; flushed while they run, the container
      // start after them does not pay for it (lib/flush.ts). Only where the engine's data root is
      // on this machine.
      const dataRoot = this.dataRoot(env);
      const flushing = async <T>(work: Promise<T>): Promise<T> => {
        const root = await dataRoot;
        return root ? whileFlushing(root, work) : work;
      };
      // The first cache tag of the chain that exists, pulled while cloning: when nothing changed
      // since that tag's build, it is the exact image, and its pull gets the clone's head start.
      const chain = (["branch", "trustedBranch", "defaultBranch"] as const).filter(
        (k, i, all) => preTags && all.findIndex((o) => preTags[o] === preTags[k]) === i,
      );
      const prefetch: Promise<string | undefined> = preTags
        ? flushing(
            (async () => {
              for (const tag of chain.map((k) => preTags[k])) {
                if (stopPrefetch.signal.aborted) return undefined;
                const r = await run("docker", ["pull", "--quiet", tag], {
                  isolatedEnv: true,
                  env,
                  timeoutMs: stepTimeout * 1000,
                  allowFailure: true,
                  redact,
                  signal: stopPrefetch.signal,
                }).catch(() => undefined);
                if (r?.exitCode === 0) return tag;
              }
              return undefined;
            })(),
          )
        : Promise.resolve(undefined);

      if (!existsSync(join(repoDir, ".git"))) {
        await rec.phase("cloning", async () => {
          rmSync(repoDir, { recursive: true, force: true });
          await run(
            "git",
            [
              "clone",
              "--quiet",
              "--depth",
              "1",
              "--single-branch",
              "--no-tags",
              "--branch",
              spec.branch,
              "--",
              spec.repository,
              repoDir,
            ],
            { isolatedEnv: true, env: { GIT_TERMINAL_PROMPT: "0" }, timeoutMs: stepTimeout * 1000, redact },
          );
        });
        writeFileSync(specFile, specText, { mode: 0o600 });
      }

      // The config: a broken one (or one that names a missing file) falls back to the default image.
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

      const tags =
        config && key && spec.registry
          ? devcontainerTags({
              namespace: spec.registry.namespace,
              repo: spec.repositoryName,
              config: config.name,
              key,
              branch: spec.branch,
              defaultBranch: spec.defaultBranch,
              trusted: spec.trusted,
            })
          : config && key
            ? devcontainerTags({
                namespace: "berth.local/workspace",
                repo: spec.repositoryName,
                config: config.name,
                key,
                branch: spec.branch,
                defaultBranch: spec.defaultBranch,
                trusted: spec.trusted,
              })
            : undefined;
      let registry: RegistryLookup = {
        reachable: false,
        exactExists: false,
        branchCacheExists: false,
        defaultBranchCacheExists: false,
      };
      if (tags && spec.registry) registry = await lookupTags(tags, login, this.o.lookupTimeoutMs ?? 5000);
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
        dockerConfigDir,
        startConfigFile: join(dir, "start.json"),
        devcontainerCli: this.cli,
        idLabels: { [WORKSPACE_LABEL]: spec.id },
        pushTimeoutSeconds: this.o.pushTimeoutSeconds ?? 600,
        dockerEnv: this.dockerEnv(),
      });
      rec.update({
        mode: plan.mode,
        ...(fallbackReason ? { fallbackReason } : {}),
        ...(key ? { cacheKey: key } : {}),
        image: plan.mode === "default-image" ? spec.defaultImage : tags?.exact,
      });
      log.info({ mode: plan.mode, image: tags?.exact, cacheFrom: plan.cacheFrom }, "workspace plan");

      const buildLog = join(dir, "build.log");
      // An exact hit that is the image the prefetch pulls (the first cache tag of the chain that
      // the registry holds): wait for that pull (a second one would compete for the same layers)
      // and tag it. Anything else: stop the prefetch. BuildKit fetches what its --cache-from
      // chain needs itself, so the pull only took the build's bandwidth and cores (measured on a
      // one-line change: 25.9–35.7 s building after the finished pull, 21.0–23.2 s with the pull
      // stopped).
      const prefetched = chain.find((k) => registry.digests?.[k] !== undefined);
      const prefetchIsExact =
        plan.mode === "exact-hit" &&
        prefetched !== undefined &&
        registry.digests?.exact === registry.digests?.[prefetched];
      if (!prefetchIsExact) stopPrefetch.abort();
      const runStep = async (step: Step): Promise<RunResult> => {
        if (step.phase === "pulling cache" && prefetchIsExact && tags && preTags && prefetched) {
          const from = preTags[prefetched];
          if ((await prefetch) === from)
            return this.exec({ file: "docker", args: ["tag", from, tags.exact], env }, 60, redact);
        }
        const isBuild = step.phase === "building";
        try {
          const command = this.exec(step.command, step.timeoutSeconds ?? stepTimeout, redact, repoDir);
          const writesLayers = step.phase === "pulling cache" || isBuild;
          const r = await (writesLayers ? flushing(command) : command);
          if (isBuild) writeFileSync(buildLog, readableCliLog(r.stdout, r.stderr));
          return r;
        } catch (e) {
          if (isBuild && e instanceof ProcessError) {
            writeFileSync(buildLog, readableCliLog(e.result.stdout, e.result.stderr));
            rec.update({ buildLog });
          }
          throw e;
        }
      };

      let active: WorkspacePlan | NonNullable<WorkspacePlan["fallback"]> = plan;
      let mode = plan.mode;
      const background: Step[] = [];
      let upResult: Record<string, unknown> | undefined;
      const runPlan = async (p: typeof active): Promise<void> => {
        writeFileSync(join(dir, "start.json"), `${JSON.stringify(p.startConfig, null, 2)}\n`);
        for (const step of p.steps) {
          if (step.background) {
            background.push(step);
            continue;
          }
          if (step.phase === "starting" && !start) continue;
          const r = await rec.phase(step.phase, async () => {
            if (step.phase === "starting" && p.startConfig.image)
              await this.prepareStart(
                spec.id,
                p.startConfig,
                join(dir, "start.json"),
                step.command.env ?? {},
                log,
              );
            return runStep(step);
          });
          if (step.phase === "starting") upResult = cliResult(r.stdout);
          if (step.phase === "building") rec.update({ buildLog });
        }
      };
      try {
        await runPlan(active);
      } catch (e) {
        const failed = rec.status.phases.at(-1);
        if (!plan.fallback || failed?.phase === "starting" || mode === "default-image") throw e;
        const why = `${failed?.phase ?? "a step"} failed: ${failureSummary(e)}`;
        log.warn({ reason: why, fallback: plan.fallback.mode }, "falling back");
        active = plan.fallback;
        mode = plan.fallback.mode;
        background.length = 0;
        rec.update({
          mode,
          fallbackReason: `${why}; ${mode === "default-image" ? "the default image runs instead (see the build log)" : "building here instead"}`,
          image: mode === "default-image" ? spec.defaultImage : tags?.exact,
        });
        await runPlan(active);
      }

      if (start) {
        const containerId = typeof upResult?.containerId === "string" ? upResult.containerId : undefined;
        const remoteUser = typeof upResult?.remoteUser === "string" ? upResult.remoteUser : undefined;
        if (containerId && remoteUser) await this.ownWorkspaceFolder(containerId, remoteUser, repoDir, log);
        rec.update({
          state: "running",
          ...(containerId ? { containerId } : {}),
          secondsToRunning: Math.round((Date.now() - t0) / 10) / 100,
        });
      }
      const first = rec.status;

      // After the workspace runs: the pushes, one after the other, each bounded; never fatal.
      const finish = (async (): Promise<WorkspaceStatus> => {
        try {
          if (background.length > 0) {
            rec.update({ push: "pending" });
            try {
              const full = existsSync(buildLog) && ranEveryStep(readFileSync(buildLog, "utf8"));
              await rec.phase("pushing cache", async () => {
                for (const step of background) if (!step.onlyIfFullBuild || full) await runStep(step);
              });
              rec.update({ push: "done" });
            } catch (e) {
              const msg = failureSummary(e, 2);
              log.warn({ err: msg }, "the cache push failed; the workspace runs on");
              rec.update({ push: "failed", pushError: msg });
            }
          }
          if (!start) rec.update({ state: "stopped" });
          await prefetch;
          await rec.flush();
          return rec.status;
        } finally {
          cleanup();
        }
      })();
      if (!start) return { status: await finish, background: finish };
      await rec.flush();
      return { status: first, background: finish };
    } catch (e) {
      stopPrefetch.abort();
      cleanup();
      rec.update({ state: "failed", error: failureSummary(e, 8) });
      await rec.flush();
      log.error({ err: failureSummary(e) }, "workspace failed");
      const status = rec.status;
      return { status, background: Promise.resolve(status) };
    }
  }

  /**
   * Before `devcontainer up`: the state volume is mounted at the remote user's home, and a
   * container of this workspace that runs another image is removed (its volumes kept), so the
   * CLI starts the new image instead of reusing the old container. Compose-based configs manage
   * their own containers and are left as they are.
   */
  private async prepareStart(
    id: string,
    startConfig: Record<string, unknown>,
    startFile: string,
    /** The start step's own environment (DOCKER_HOST, this build's DOCKER_CONFIG). */
    env: Record<string, string>,
    log: Logger,
  ): Promise<void> {
    const image = String(startConfig.image);
    const docker = (args: string[], allowFailure = false) =>
      run("docker", args, { isolatedEnv: true, env, timeoutMs: 600_000, allowFailure });
    const inspect = () =>
      docker(
        [
          "image",
          "inspect",
          "--format",
          '{{.Id}}\t{{.Config.User}}\t{{index .Config.Labels "devcontainer.metadata"}}',
          image,
        ],
        true,
      );
    // Independent calls at once (each costs a Docker round trip; this is on the way to running).
    const volume = stateVolumeName(id);
    const [first, , existing] = await Promise.all([
      inspect(),
      docker(["volume", "create", "--label", `${WORKSPACE_LABEL}=${id}`, volume]),
      this.containers(id),
    ]);
    let info = first;
    if (info.exitCode !== 0) {
      // Not here yet (the default image): pull it now; if that fails, `devcontainer up` says why.
      if ((await docker(["pull", "--quiet", image], true)).exitCode === 0) info = await inspect();
    }
    const [imageId = "", imageUser = "", label = ""] = info.stdout.trim().split("\t");
    const user = remoteUserOf(startConfig, label === "<no value>" ? undefined : label, imageUser);
    const home = homeOf(user);
    let config = startConfig;
    if (home) {
      config = withStateMount(startConfig, volume, home);
    } else {
      log.warn({ user }, "the remote user is a bare uid: its home is not kept on the state volume");
    }
    writeFileSync(startFile, `${JSON.stringify(config, null, 2)}\n`);
    for (const c of existing) {
      const r = await docker(["container", "inspect", "--format", "{{.Image}}", c], true);
      if (imageId !== "" && r.exitCode === 0 && r.stdout.trim() !== imageId) {
        log.info({ container: c }, "the workspace's image changed: replacing its container (state kept)");
        await docker(["rm", "-f", c]);
      }
    }
  }

  /**
   * The clone belongs to the container's remote user, so the image needs no per-node UID update
   * (the rebuild caches cannot carry): the folder is handed to the image's user instead.
   */
  private async ownWorkspaceFolder(
    containerId: string,
    user: string,
    repoDir: string,
    log: Logger,
  ): Promise<void> {
    try {
      // One exec for both numbers: `id -u USER; id -g USER`.
      const r = await run(
        "docker",
        ["exec", "-u", "root", containerId, "sh", "-c", 'id -u "$1" && id -g "$1"', "sh", user],
        { isolatedEnv: true, env: this.dockerEnv(), timeoutMs: 30_000 },
      );
      const [uid, gid] = r.stdout.trim().split("\n").map(Number);
      if (uid === undefined || gid === undefined || !Number.isInteger(uid) || !Number.isInteger(gid)) return;
      const st = statSync(repoDir);
      if (st.uid === uid && st.gid === gid) return;
      chownTree(repoDir, uid, gid);
    } catch (e) {
      log.warn(
        { err: (e as Error).message.split("\n")[0] },
        "could not hand the workspace folder to the remote user",
      );
    }
  }
}

function chownTree(dir: string, uid: number, gid: number): void {
  chownSync(dir, uid, gid);
  for (const d of readdirSync(dir, { withFileTypes: true })) {
    const p = posix.join(dir, d.name);
    if (d.isDirectory()) chownTree(p, uid, gid);
    else lchownSync(p, uid, gid);
  }
}
