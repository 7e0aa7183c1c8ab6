// Applying one verified release of one environment on this node:
//   pull → stop-first services (the environment's project) → start-first services as a new
//   project beside the old one → health (Compose healthchecks, x-berth-health probes, or
//   running-and-stable) → switch the proxy's routes → drain → stop the old release's project.
// Any failure before the switch completes rolls back to the previous release, whose containers
// keep serving throughout; a failed first release leaves nothing running.
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { stripVTControlCharacters } from "node:util";
import type { Hook } from "../../contract/manifest/schema";
import type { ReleasePayload } from "../../contract/payload";
import {
  parseRegistryCredentials,
  REGISTRY_CREDENTIALS_SECRET,
  type RegistryCredentials,
} from "../../contract/release/registry-credentials";
import { type TlsBundle, tlsBundlesFromSecrets } from "../../contract/release/tls";
import { FILES_DIR_VARIABLE, type NodeExtras } from "../../contract/render/node-compose";
import { describeError } from "../../lib/errors";
import type { Logger } from "../../lib/log";
import { lastLines, ProcessError } from "../../lib/process";
import { containersWithLabels } from "../access/docker-api";
import * as compose from "../compose/commands";
import { enginePortLookup, type PortLookup } from "../compose/published-port";
import { type ContainerStatus, composeReady } from "../compose/ready";
import type { MountDisk } from "../disks/mount";
import { type DockerRunner, engineSocket } from "../docker";
import { imagesOf, type Release, type RenderedService } from "../state/release";
import type { ReleaseStore } from "../state/release-store";
import { ensureEnvironmentResources } from "./environment-resources";
import { DEFAULT_FILES_ROOT, ensureTmpfs, writeNodeFiles } from "./files";
import { type HookContainer, hookExec, parseServiceContainers, serviceContainers } from "./hooks";
import { probeUntilHealthy } from "./http-probe";
import { keepable, type PlacedRelease, strayContainers, unchangedServices } from "./placement";
import {
  type ApplyPlan,
  parallelismOf,
  planApply,
  type RouteKey,
  replicasOf,
  slotsFor,
  type Upstream,
} from "./plan";
import type { ProxyControl } from "./proxy-control";
import { withDockerConfig } from "./registry-auth";
import { failedOneOff, oneOffFailureMessage, stability } from "./stability";

export interface ApplyDeps {
  docker: DockerRunner;
  proxy: ProxyControl;
  log: Logger;
  /** Seconds a new release has to become healthy. */
  healthTimeoutSeconds: number;
  /** Seconds a service with no health check must stay running to count as healthy. */
  stableSeconds?: number;
  /** Called at each step, for status reports and crash tests. */
  onStep?: (step: string) => Promise<void> | void;
  /** Mounts a cloud volume's disk at the volume's folder (cloud nodes). */
  mountDisk?: MountDisk;
  /** Opens a release's sealed secrets with the node's private key: name → value. */
  unseal: (payload: ReleasePayload) => Record<string, string>;
  /** The tmpfs for Compose secret and config files (default /run/berth-files). */
  filesRoot?: string;
  /**
   * Where Docker published a service's port (default: the Engine API of `docker`'s engine;
   * `docker compose port` where it has none on a Unix socket).
   */
  portLookup?: PortLookup;
  /**
   * A project's containers with their state and status line (default: the Engine API's list where
   * `docker`'s engine is on a Unix socket; none elsewhere, and a first release then waits for
   * Compose's own answer before it switches its routes).
   */
  containers?: (project: string) => Promise<ContainerStatus[]>;
}

export interface ApplyOutcome {
  state: "applied" | "failed" | "rolled-back";
  sequence: number;
  error?: string;
  logTail?: string;
  services: { name: string; state: string; health?: string }[];
  /**
   * What is left once an applied release serves: the previous release's containers stopped and
   * removed. The converger runs it after it reported the outcome (nothing waits on the old
   * containers' stop), still holding the environment's lock; after a crash before it ran, the
   * agent's recovery removes them as strays. Runs once, however often it is called.
   */
  retire?: () => Promise<void>;
}

export class ApplyFailure extends Error {
  constructor(
    message: string,
    readonly logTail?: string,
  ) {
    super(message);
    this.name = "ApplyFailure";
  }
}

interface PsEntry {
  Service: string;
  State: string;
  Health?: string;
  ExitCode?: number;
}

function parsePs(stdout: string): PsEntry[] {
  const text = stdout.trim();
  if (!text) return [];
  // Compose 2.26 prints one JSON object per line; older ones a JSON array.
  if (text.startsWith("[")) return JSON.parse(text) as PsEntry[];
  return text.split("\n").map((l) => JSON.parse(l) as PsEntry);
}

export function routeKeys(environmentId: string, payload: ReleasePayload, extras?: NodeExtras): RouteKey[] {
  return payload.routes.map((r) => {
    const replicas = extras ? replicasOf(extras, r.service) : 1;
    return {
      environmentId,
      host: r.host,
      ...(r.path ? { path: r.path } : {}),
      ...(replicas > 1 ? { slots: slotsFor(replicas) } : {}),
    };
  });
}

type RenderedServices = Record<string, RenderedService>;

/**
 * A healthcheck Docker runs and Compose's --wait waits for: the rendered service's own, or else
 * its image's (`imageHealth`; unknown counts as one).
 */
function hasDockerHealthcheck(
  s: RenderedServices[string] | undefined,
  imageHealth: Map<string, boolean> | undefined,
): boolean {
  const h = s?.healthcheck;
  if (h) {
    if (h.disable === true) return false;
    return !(Array.isArray(h.test) && h.test[0] === "NONE");
  }
  if (!imageHealth || typeof s?.image !== "string") return true;
  return imageHealth.get(s.image) ?? true;
}

/** How long one lifecycle hook may run. */
const HOOK_TIMEOUT_MS = 120_000;
/** How often a one-off is looked at while Compose waits for the health checks of the others. */
const ONE_OFF_LOOK_MS = 1000;

type Call = (
  c: compose.Command,
  o?: { allowFailure?: boolean; timeoutMs?: number },
) => Promise<{ stdout: string; stderr: string; exitCode?: number }>;

/**
 * Where each service of a stored release runs: what its apply recorded, or (a release applied
 * before that was recorded) every start-first service in the release's own project.
 */
export function projectsOf(store: ReleaseStore, seq: number): Record<string, string> {
  return store.readMetadata(seq).projects ?? planApply(store.release(seq).extras).projectOf;
}

/**
 * The containers of an environment that the applied release does not run (each container of
 * its projects outside `projects`: the previous release's, or what a crash left): pre_stop hooks
 * (`previous`'s) in the running ones, then each is stopped within its own stop_grace_period
 * (Compose set it as the container's stop timeout, as `compose down` uses it) and removed.
 */
export async function retireOutside(
  call: Call,
  log: Logger,
  env: string,
  projects: Readonly<Record<string, string>>,
  store: ReleaseStore,
  previous: number | undefined,
): Promise<void> {
  const ps = await call(compose.containersOfEnvironment(env), { allowFailure: true });
  const ids = new Set(strayContainers(env, projects, ps.stdout));
  if (ids.size === 0) return;
  let services: NodeExtras["services"] = [];
  try {
    if (previous !== undefined) services = store.release(previous).extras.services;
  } catch {
    // The previous release is gone from the store: no hooks to run.
  }
  for (const line of ps.stdout.split("\n")) {
    const [id = "", , , service = "", state = ""] = line.split("\t");
    const hooks = services.find((s) => s.name === service)?.preStop;
    if (!ids.has(id) || state !== "running" || !hooks?.length) continue;
    await runPreStop(call, log, service, hooks, [{ id, state, configHash: "" }]);
  }
  await call(compose.stopContainers([...ids]), { allowFailure: true });
  await call(compose.removeContainers([...ids]), { allowFailure: true });
}

/** A failing pre_stop hook is reported, and the container is stopped all the same. */
async function runPreStop(
  call: Call,
  log: Logger,
  service: string,
  hooks: readonly Hook[],
  containers: readonly HookContainer[],
): Promise<void> {
  for (const c of containers) {
    for (const hook of hooks) {
      const r = await call(hookExec(c.id, hook), { allowFailure: true, timeoutMs: HOOK_TIMEOUT_MS });
      if (r.exitCode !== 0)
        log.warn(
          {
            service,
            container: c.id.slice(0, 12),
            exitCode: r.exitCode,
            output: lastLines(r.stderr || r.stdout, 5),
          },
          "a pre_stop hook failed; stopping the container anyway",
        );
    }
  }
}

export class Applier {
  constructor(private readonly deps: ApplyDeps) {}

  private async step(name: string): Promise<void> {
    this.deps.log.debug({ step: name }, "apply step");
    await this.deps.onStep?.(name);
  }

  /**
   * Applies `release` (already verified and saved in `store`). Never throws for a failure of the
   * release itself: the outcome says what happened.
   *
   * `before`: work that must end before any service starts (a restore of the volumes on a new
   * node). The networks, volumes and images are made ready while it runs; when it ends with an
   * outcome (it failed), that is the apply's outcome and nothing has started.
   */
  async apply(
    store: ReleaseStore,
    release: Release,
    before?: Promise<ApplyOutcome | undefined>,
  ): Promise<ApplyOutcome> {
    const { docker, log } = this.deps;
    const { payload, extras } = release;
    const env = payload.environmentId;
    const seq = payload.sequence;
    const file = store.composePath(seq);
    const previous = store.current();
    // One Compose call for a first release only when no service may exit by design (a one-off,
    // `restart: "no"` or `on-failure`): Compose's --wait fails on an exited container, and the
    // two calls' path checks one-offs itself.
    const oneOffs = Object.values(release.document.services ?? {}).some((s) =>
      /^(no|on-failure.*)$/.test(String((s as { restart?: unknown }).restart ?? "no")),
    );
    let plan = planApply(extras, undefined, { first: previous === undefined && !oneOffs });
    let secretEnv: Record<string, string>;
    let pullCredentials: RegistryCredentials | undefined;
    let certificates: TlsBundle[];
    let secrets: Record<string, string>;
    try {
      secrets = this.deps.unseal(payload);
      certificates = tlsBundlesFromSecrets(secrets);
      secretEnv = this.secretEnv(payload, extras, secrets);
      const creds = secrets[REGISTRY_CREDENTIALS_SECRET];
      pullCredentials = creds === undefined ? undefined : parseRegistryCredentials(creds);
      // Compose secrets and configs: files on the agent's tmpfs, bound read-only.
      if (extras.files?.length) {
        await ensureTmpfs(this.deps.filesRoot ?? DEFAULT_FILES_ROOT);
        writeNodeFiles(this.filesDir(payload), extras, secrets);
      }
    } catch (e) {
      return { state: "failed", sequence: seq, error: describeError(e), services: [] };
    }
    const redact = [
      ...Object.entries(secretEnv)
        .filter(([k]) => k !== FILES_DIR_VARIABLE)
        .map(([, v]) => v),
      ...Object.values(pullCredentials ?? {}).map((c) => c.password),
    ];
    const call = (
      cmd: compose.Command,
      opts: { allowFailure?: boolean; timeoutMs?: number; signal?: AbortSignal } = {},
    ) => docker(cmd, { env: secretEnv, redact, ...opts });
    const statefulT = { project: plan.stateful.project, file };
    const newT = { project: plan.stateless.project, file };
    const routes = routeKeys(env, payload, extras);
    const switched: { route: RouteKey; from: Upstream[] }[] = [];
    let certificatesInstalled = false;
    const waitS = this.deps.healthTimeoutSeconds;
    let routesReady: Promise<unknown> = Promise.resolve(undefined);
    // Where Docker published a service's port, one address per replica, read once: from the
    // Engine API's container list (a few ms), or a `docker compose port` process (~0.1 s).
    const ports = new Map<string, Promise<Upstream[]>>();
    const lookup = this.deps.portLookup ?? enginePortLookup(engineSocket(this.deps.docker));
    const socket = engineSocket(this.deps.docker);
    const listContainers =
      this.deps.containers ??
      (socket
        ? (project: string) =>
            containersWithLabels(socket, [`com.docker.compose.project=${project}`]) as Promise<
              ContainerStatus[]
            >
        : undefined);
    // A first release's `up --wait` that returned early (every service ready as Docker says):
    // Compose's own answer, awaited before the release counts as applied.
    let composeRest: Promise<void> | undefined;
    const portOf = (service: string, port: number): Promise<Upstream[]> => {
      const key = `${service}:${port}`;
      let p = ports.get(key);
      if (!p) {
        const project = plan.projectOf[service] as string;
        const n = replicasOf(extras, service);
        p = Promise.all(
          Array.from({ length: n }, (_, i) =>
            lookup
              ? lookup(project, service, port, i + 1)
              : call(compose.port({ project, file }, service, port, n > 1 ? i + 1 : undefined)).then((o) =>
                  compose.parsePortOutput(o.stdout),
                ),
          ),
        );
        ports.set(key, p);
        p.catch(() => ports.delete(key));
      }
      return p;
    };

    // Start-first services whose definition this release leaves as it was keep their containers
    // where they run, if those are running (the answer comes with `docker ps`, below).
    const placing = this.placing(store, release, previous, secretEnv, secrets);
    const states = placing ? docker(compose.containerStates(env), { allowFailure: true }) : undefined;
    states?.catch(() => undefined);

    log.info({ environment: env, sequence: seq, previous }, "applying release");
    try {
      await this.step("resources");
      // Two reads that need nothing made first run beside the networks and volumes: which images
      // are present, and whether the stop-first services already run this definition (each a
      // Docker call or two, ~0.1-0.3 s, off the apply's path).
      const images = imagesOf(release.document);
      const inspect = () => docker(compose.inspectImages(images), { allowFailure: true });
      const inspecting = images.length > 0 ? inspect() : undefined;
      inspecting?.catch(() => undefined); // awaited below, where a failure counts
      const statefulReplicas = Object.fromEntries(
        plan.stateful.services.map((n) => [n, replicasOf(extras, n)]),
      );
      const keptEarly =
        previous !== undefined && plan.stateful.services.length > 0
          ? this.unchangedAndHealthy(call, statefulT, plan.stateful.services, env, statefulReplicas)
          : undefined;
      await ensureEnvironmentResources(docker, extras, this.deps.mountDisk);
      await this.step("pull");
      // Images are pinned by digest: present means identical, so only missing ones are pulled
      // (a `docker compose pull` of present images still asks the registry, ~0.1-0.5 s).
      let inspected = inspecting ? await inspecting : undefined;
      const present = inspected?.exitCode === 0;
      if (!present) {
        await withDockerConfig(pullCredentials, (authEnv) =>
          docker(
            compose.pull(
              { project: plan.stateless.project, file },
              extras.services.map((s) => s.name),
            ),
            {
              env: { ...secretEnv, ...authEnv },
              redact,
            },
          ),
        );
        if (images.length > 0) inspected = await inspect();
      }
      // Which images carry a HEALTHCHECK of their own (unknown: as if each did).
      const imageHealth = inspected ? compose.parseImageHealthchecks(images, inspected.stdout) : undefined;
      const doc: RenderedServices = release.document.services ?? {};
      // --wait only where Compose has a Docker healthcheck to wait for; every other service is
      // checked below (its x-berth-health probe, or running-and-stable).
      const waitFor = (services: string[]) =>
        services.some((s) => hasDockerHealthcheck(doc[s], imageHealth)) ? waitS : undefined;
      // A new route needs a reload of the proxy's configuration; it runs while the services
      // start (it touches no server of an existing route), and is awaited before any switch.
      routesReady = settle(this.deps.proxy.ensureRoutes(routes));
      if (before) {
        // A route with no server yet answers 503, as it would while the first release starts.
        await this.step("wait-before-start");
        const stop = await before;
        if (stop) {
          await routesReady;
          return stop;
        }
      }
      if (placing && states) {
        const ps = await states;
        const keep = keepable(
          placing.unchanged,
          placing.projects,
          ps.exitCode === 0 ? compose.parseContainerStates(ps.stdout) : [],
          (s) => replicasOf(extras, s),
        );
        plan = planApply(extras, { services: keep, projects: placing.projects });
        if (plan.kept.length > 0)
          log.debug(
            { environment: env, services: plan.kept },
            "start-first services unchanged: left running",
          );
      }
      store.writeMetadata({ ...store.readMetadata(seq), projects: plan.projectOf });
      // The services this apply (re)started, and when the last of them did.
      const started = new Set<string>();
      // x-berth-health probes run beside Compose's `up` (and its --wait for Docker's healthchecks):
      // each starts as soon as its container publishes its port.
      const probedEarly = new Set<string>();
      const upAndProbe = async (
        t: compose.ComposeTarget,
        services: string[],
        o: { deps?: boolean; early?: boolean } = {},
      ) => {
        const probed = services.filter((s) => doc[s]?.labels?.["berth.health"] !== undefined);
        let state: "starting" | "started" | "failed" = "starting";
        let ended: () => void = () => undefined;
        const upEnded = new Promise<void>((r) => {
          ended = r;
        });
        const probing =
          probed.length > 0
            ? this.probeHealth(call, plan, extras, file, doc, portOf, Date.now(), {
                only: (s) => probed.includes(s),
                beside: () => state,
                upEnded,
              })
            : undefined;
        probing?.catch(() => undefined); // awaited below once `up` succeeded
        try {
          await this.up(call, t, services, waitFor(services), doc, {
            ...(o.deps ? { deps: true } : {}),
            ...(o.early && listContainers
              ? {
                  early: {
                    ready: async () =>
                      composeReady(await listContainers(t.project), {
                        project: t.project,
                        services,
                        replicas: (s) => replicasOf(extras, s),
                        checked: (s) => hasDockerHealthcheck(doc[s], imageHealth),
                      }),
                    rest: (p: Promise<void>) => {
                      p.catch(() => undefined); // awaited before the commit (or the rollback)
                      composeRest = p;
                    },
                  },
                }
              : {}),
          });
          state = "started";
        } catch (e) {
          state = "failed";
          throw e;
        } finally {
          ended();
        }
        await probing;
        for (const s of probed) probedEarly.add(s);
      };
      if (plan.stateless.project === plan.stateful.project) {
        // A first release: every service in one Compose call, which starts them in `depends_on`
        // order (a service waits for its dependencies' health) as a plain `compose up` would.
        await this.step("stateful-up");
        const all = [...plan.stateful.services, ...plan.stateless.services];
        // A first release serves as soon as Docker says every service is ready (Compose's `--wait`
        // looks only every 500 ms); Compose's own answer still comes before the commit.
        await upAndProbe(statefulT, all, { deps: true, early: previous === undefined });
        // The start-first services came up in that call; the step stays (crash tests kill at it).
        await this.step("stateless-up");
        for (const s of all) started.add(s);
        await this.postStart(call, statefulT.project, extras, all, new Set());
      } else if (plan.stateful.services.length > 0) {
        await this.step("stateful-up");
        // The early answer holds when nothing was pulled in between (a pull can take long).
        const kept =
          keptEarly !== undefined && present
            ? await keptEarly
            : await this.unchangedAndHealthy(call, statefulT, plan.stateful.services, env, statefulReplicas);
        if (kept) {
          log.debug({ environment: env, services: plan.stateful.services }, "stop-first services unchanged");
        } else {
          // Compose recreates the containers whose definition changed: their pre_stop hooks run
          // first, and post_start runs in the containers it made.
          const before = await this.preStopChanged(call, statefulT, extras, plan.stateful.services);
          await this.up(call, statefulT, plan.stateful.services, waitFor(plan.stateful.services), doc);
          for (const s of plan.stateful.services) started.add(s);
          await this.postStart(call, statefulT.project, extras, plan.stateful.services, before);
        }
      }
      if (plan.stateless.services.length > 0 && plan.stateless.project !== plan.stateful.project) {
        await this.step("stateless-up");
        await upAndProbe(newT, plan.stateless.services);
        for (const s of plan.stateless.services) started.add(s);
        await this.postStart(call, newT.project, extras, plan.stateless.services, new Set());
      }
      await this.step("health");
      const healthFrom = Date.now();
      await this.probeHealth(call, plan, extras, file, doc, portOf, healthFrom, {
        only: (s) => !probedEarly.has(s),
      });
      // A first release has no earlier one serving: its routes switch once the probes passed, and
      // the services with no health check prove they stay running after that (a failure still
      // fails the release and removes it). An upgrade keeps the old release serving until then.
      const stable = () => this.stayRunning(call, plan, extras, file, doc, started, healthFrom);
      if (previous !== undefined) await stable();
      await this.step("routes");
      const routeError = await routesReady;
      if (routeError !== undefined) throw routeError;
      await this.step("certificates");
      certificatesInstalled = true;
      await this.deps.proxy.installCertificates(env, certificates);
      for (const [i, r] of payload.routes.entries()) {
        // A service left running keeps its servers.
        if (plan.kept.includes(r.service)) continue;
        const route = routes[i] as RouteKey;
        const upstreams = await portOf(r.service, r.port);
        const from = await this.deps.proxy.upstreamsOf(route);
        await this.step(`switch:${r.host}${r.path ?? ""}`);
        const parallelism = parallelismOf(extras, r.service);
        await this.deps.proxy.switchRoute(route, upstreams, parallelism ? { parallelism } : {});
        switched.push({ route, from });
      }
      if (composeRest) await composeRest;
      if (previous === undefined) {
        await this.step("stable");
        await stable();
      }
    } catch (e) {
      // Nothing is rolled back while the work before the start still runs (it never rejects),
      // nor while Compose's `up` still waits.
      if (before) {
        const stop = await before;
        if (stop) return stop;
      }
      await composeRest?.catch(() => undefined);
      const reason = e instanceof ApplyFailure ? e.message : describeError(e);
      const logTail = e instanceof ApplyFailure ? e.logTail : await this.failingLogs(call, plan, file);
      log.warn({ environment: env, sequence: seq, reason }, "release failed; rolling back");
      await routesReady; // no proxy reload may run during the rollback
      // From here on a restarted agent finishes this rollback rather than trying the release again.
      store.writeMetadata({
        ...store.readMetadata(seq),
        rollingBack: { reason, ...(logTail ? { logTail } : {}), startedAt: new Date().toISOString() },
      });
      await this.step("rollback");
      return this.rollBack(store, release, {
        plan,
        previous,
        switched,
        reason,
        logTail,
        redact,
        secretEnv,
        certificatesInstalled,
      });
    }

    // The new release serves now: from here on it is the one a restarted agent keeps.
    await this.step("commit");
    store.setCurrent(seq);
    await this.step("drain");
    const services = await this.serviceStates(call, plan, env);
    log.info({ environment: env, sequence: seq }, "release applied");
    if (previous === undefined || previous === seq) return { state: "applied", sequence: seq, services };
    // No fixed wait: each route's switch already drained its old servers for as long as HAProxy
    // counted open sessions on them (bounded by the larger of 5 s and the agent's drainSeconds),
    // and nothing else sends them traffic. The old release stops after the outcome is reported.
    let retired: Promise<void> | undefined;
    const retire = () => {
      retired ??= (async () => {
        await this.step("stop-old");
        await retireOutside(call, log, env, plan.projectOf, store, previous);
        log.info({ environment: env, sequence: previous }, "previous release stopped");
      })();
      return retired;
    };
    return { state: "applied", sequence: seq, services, retire };
  }

  /**
   * Finishes a rollback that a crash interrupted (the release's metadata says `rollingBack`).
   * The caller has already pointed the proxy back at the current release and removed the failed
   * release's start-first containers (Agent.recover); this puts the previous release's stop-first
   * services back, or clears a failed first release, and says how it ended.
   */
  async resumeRollback(
    store: ReleaseStore,
    release: Release,
    marker: { reason: string; logTail?: string },
  ): Promise<ApplyOutcome> {
    const { payload, extras } = release;
    let secretEnv: Record<string, string> = {};
    try {
      secretEnv = this.secretEnv(payload, extras);
    } catch {
      // The failed release's secrets are not needed to remove its containers.
    }
    this.deps.log.warn(
      { environment: payload.environmentId, sequence: payload.sequence, reason: marker.reason },
      "finishing the rollback an earlier run of the agent began",
    );
    await this.step("rollback:resumed");
    return this.rollBack(store, release, {
      previous: store.current(),
      switched: [],
      reason: marker.reason,
      logTail: marker.logTail,
      redact: Object.values(secretEnv),
      secretEnv,
    });
  }

  /**
   * Runs each service's post_start hooks in its containers of `project` that are not in `before`
   * (the ones this apply created). A failing hook fails the release, as it fails Compose's `up`.
   */
  private async postStart(
    call: Call,
    project: string,
    extras: NodeExtras,
    services: readonly string[],
    before: ReadonlySet<string>,
  ): Promise<void> {
    for (const name of services) {
      const hooks = extras.services.find((s) => s.name === name)?.postStart;
      if (!hooks?.length) continue;
      const cs = parseServiceContainers((await call(serviceContainers(project, name))).stdout);
      for (const c of cs.filter((x) => !before.has(x.id) && x.state === "running")) {
        for (const hook of hooks) {
          const r = await call(hookExec(c.id, hook), { allowFailure: true, timeoutMs: HOOK_TIMEOUT_MS });
          if (r.exitCode !== 0)
            throw new ApplyFailure(
              `service ${name}'s post_start hook ${JSON.stringify(hook.command.join(" "))} failed in container ${c.id.slice(0, 12)} (exit code ${r.exitCode})`,
              lastLines(r.stderr || r.stdout, 20),
            );
        }
      }
    }
  }

  /**
   * Before `up` of stop-first services: runs pre_stop in each container whose definition changed
   * (Compose will recreate it). Returns the IDs of the containers that exist now.
   */
  private async preStopChanged(
    call: Call,
    t: compose.ComposeTarget,
    extras: NodeExtras,
    services: readonly string[],
  ): Promise<Set<string>> {
    const before = new Set<string>();
    const hooked = services.filter(
      (n) =>
        extras.services.find((s) => s.name === n)?.postStart?.length ||
        extras.services.find((s) => s.name === n)?.preStop?.length,
    );
    if (hooked.length === 0) return before;
    const want = compose.parseConfigHashes((await call(compose.configHash(t, hooked))).stdout);
    for (const name of hooked) {
      const cs = parseServiceContainers((await call(serviceContainers(t.project, name))).stdout);
      for (const c of cs) before.add(c.id);
      const hooks = extras.services.find((s) => s.name === name)?.preStop ?? [];
      const changed = cs.filter((c) => c.state === "running" && c.configHash !== want[name]);
      await this.preStop(call, name, hooks, changed);
    }
    return before;
  }

  /**
   * What placement needs of the previous release (none on a first release, or when it cannot be
   * read): its projects, and which start-first services this release leaves unchanged.
   */
  private placing(
    store: ReleaseStore,
    release: Release,
    previous: number | undefined,
    env: Record<string, string>,
    secrets: Record<string, string>,
  ): { projects: Record<string, string>; unchanged: Set<string> } | undefined {
    if (previous === undefined) return undefined;
    try {
      const prev = store.release(previous);
      const prevSecrets = this.deps.unseal(prev.payload);
      const before: PlacedRelease = {
        document: prev.document,
        extras: prev.extras,
        env: this.secretEnv(prev.payload, prev.extras, prevSecrets),
        secrets: prevSecrets,
      };
      const next: PlacedRelease = { document: release.document, extras: release.extras, env, secrets };
      const unchanged = unchangedServices(before, next);
      return unchanged.size > 0 ? { projects: projectsOf(store, previous), unchanged } : undefined;
    } catch (e) {
      this.deps.log.debug(
        { err: describeError(e) },
        "previous release unreadable: every service starts anew",
      );
      return undefined;
    }
  }

  private preStop(call: Call, service: string, hooks: readonly Hook[], containers: readonly HookContainer[]) {
    return runPreStop(call, this.deps.log, service, hooks, containers);
  }

  /** Where the environment's secret and config files live on the agent's tmpfs. */
  private filesDir(payload: ReleasePayload): string {
    return join(this.deps.filesRoot ?? DEFAULT_FILES_ROOT, payload.nodeId, payload.environmentId);
  }

  /** The secret variables Compose reads, from the release's sealed secrets. */
  private secretEnv(
    payload: ReleasePayload,
    extras: NodeExtras,
    secrets: Record<string, string> = this.deps.unseal(payload),
  ): Record<string, string> {
    // The folder of the release's secret and config files (a path, not a secret).
    const out: Record<string, string> = { [FILES_DIR_VARIABLE]: this.filesDir(payload) };
    for (const [name, variable] of Object.entries(extras.secrets)) {
      const value = secrets[name];
      if (value === undefined)
        throw new Error(`secret ${name} is referenced but missing from release ${payload.sequence}`);
      out[variable] = value;
    }
    return out;
  }

  private async up(
    call: (
      c: compose.Command,
      o?: { allowFailure?: boolean; timeoutMs?: number; signal?: AbortSignal },
    ) => Promise<{ stdout: string }>,
    t: compose.ComposeTarget,
    services: string[],
    /** Seconds Compose waits for Docker healthchecks; undefined: none to wait for. */
    waitS: number | undefined,
    doc: RenderedServices,
    /**
     * `deps`: the call names every service, and Compose orders them by `depends_on`. `early`:
     * return as soon as `ready` says every service is up as Compose's --wait waits for it (looked
     * at every 100 ms beside Compose), handing Compose's own answer to `rest`.
     */
    o: {
      deps?: boolean;
      early?: { ready: () => Promise<boolean>; rest: (compose: Promise<void>) => void };
    } = {},
  ): Promise<void> {
    // A one-off that failed (a migration exited non-zero, or is restarted after it under
    // `on-failure`) is what happened, not a health wait: while Compose waits, the one-offs are
    // looked at every second, and a failed one ends the wait at once (what it gates never starts).
    const stop = new AbortController();
    let oneOff: compose.ContainerRun | undefined;
    const oneOffs = services.filter((s) => /^(no|on-failure(:\d+)?)$/.test(doc[s]?.restart ?? ""));
    // Compose's --wait counts a one-off that exited, even with 0, as a failure unless a service of
    // the call waits for it (service_completed_successfully): such one-offs start in a call of
    // their own after it, without --wait; the running-and-stable check then sees how they ended.
    const needed = new Set(services.flatMap((s) => Object.keys(doc[s]?.depends_on ?? {})));
    const apart = waitS === undefined ? [] : oneOffs.filter((s) => !needed.has(s));
    const waited = services.filter((s) => !apart.includes(s));
    const watching =
      waitS === undefined || oneOffs.length === 0
        ? undefined
        : (async () => {
            while (!stop.signal.aborted) {
              await delay(ONE_OFF_LOOK_MS, undefined, { signal: stop.signal }).catch(() => undefined);
              if (stop.signal.aborted) return;
              oneOff = await this.failedOneOff(call, t.project, oneOffs);
              if (oneOff) stop.abort();
            }
          })();
    const early = waitS !== undefined && oneOffs.length === 0 ? o.early : undefined;
    try {
      if (waited.length > 0 && early) {
        // No abort signal: Compose goes on waiting after this returns.
        const upping = call(compose.up(t, waited, { waitTimeoutSeconds: waitS as number, noDeps: !o.deps }), {
          timeoutMs: ((waitS as number) + 120) * 1000,
        }).then(() => undefined);
        if (await readyFirst(upping, early.ready)) {
          early.rest(upping.catch((e: unknown) => Promise.reject(this.upFailure(e, services, waitS))));
          return;
        }
        await upping;
      } else if (waited.length > 0)
        await call(
          compose.up(t, waited, {
            ...(waitS !== undefined ? { waitTimeoutSeconds: waitS } : {}),
            noDeps: !o.deps,
          }),
          { timeoutMs: ((waitS ?? 0) + 120) * 1000, signal: stop.signal },
        );
      if (apart.length > 0)
        await call(compose.up(t, apart, { noDeps: !o.deps }), { timeoutMs: 120_000, signal: stop.signal });
    } catch (e) {
      stop.abort();
      await watching;
      oneOff ??= await this.failedOneOff(call, t.project, services);
      if (oneOff) {
        const logs = stripVTControlCharacters(
          (await call(compose.logs(t, oneOff.service, 20), { allowFailure: true })).stdout,
        );
        throw new ApplyFailure(oneOffFailureMessage(oneOff, lastLines(logs, 5)), lastLines(logs, 20));
      }
      throw this.upFailure(e, services, waitS);
    } finally {
      stop.abort();
      await watching;
    }
  }

  /** What a failed `compose up` says, as the apply's failure. */
  private upFailure(e: unknown, services: readonly string[], waitS: number | undefined): ApplyFailure {
    const tail = e instanceof ProcessError ? lastLines(e.result.stderr || e.result.stdout, 6) : String(e);
    return new ApplyFailure(
      waitS !== undefined
        ? `services ${services.join(", ")} did not become healthy within ${waitS} s: ${tail}`
        : `services ${services.join(", ")} did not start: ${tail}`,
    );
  }

  /** The project's containers: each one's service, state, last start, exit code and restart policy. */
  private async containerRuns(
    call: (c: compose.Command, o?: { allowFailure?: boolean }) => Promise<{ stdout: string }>,
    project: string,
  ): Promise<compose.ContainerRun[]> {
    const ps = await call(compose.projectContainers(project));
    const ids = ps.stdout
      .split("\n")
      .map((l) => l.split("\t")[0]?.trim())
      .filter((id): id is string => !!id);
    if (ids.length === 0) return [];
    return compose.parseContainerRuns(ps.stdout, (await call(compose.containerRuns(ids))).stdout);
  }

  /** A one-off among `services` of the project whose container exited non-zero, if any. */
  private async failedOneOff(
    call: (c: compose.Command, o?: { allowFailure?: boolean }) => Promise<{ stdout: string }>,
    project: string,
    services: readonly string[],
  ): Promise<compose.ContainerRun | undefined> {
    try {
      const runs = await this.containerRuns(call, project);
      return failedOneOff(runs.filter((r) => services.includes(r.service)));
    } catch {
      return undefined; // no answer from Docker: the error Compose gave stands
    }
  }

  /**
   * True when each service already runs from exactly this definition (Compose's config hash,
   * which `up` itself compares) in one running container that is not unhealthy or starting:
   * `up` would then leave it alone, and only spend ~0.6 s finding that out. Any doubt: false.
   */
  private async unchangedAndHealthy(
    call: (
      c: compose.Command,
      o?: { allowFailure?: boolean },
    ) => Promise<{ stdout: string; exitCode?: number }>,
    t: compose.ComposeTarget,
    services: string[],
    env: string,
    /** Containers each service runs (its replicas; absent: one). */
    replicas: Record<string, number> = {},
  ): Promise<boolean> {
    try {
      // docker ps first (~20 ms): a first release has no container, and needs no Compose call.
      const ps = await call(compose.containerStates(env));
      const running = compose.parseContainerStates(ps.stdout).filter((c) => c.project === t.project);
      if (!services.every((name) => running.some((c) => c.service === name && c.state === "running")))
        return false;
      const want = compose.parseConfigHashes((await call(compose.configHash(t, services))).stdout);
      return services.every((name) => {
        const mine = running.filter((c) => c.service === name);
        const c = mine[0];
        return (
          mine.length === (replicas[name] ?? 1) &&
          c !== undefined &&
          want[name] !== undefined &&
          c.configHash === want[name] &&
          c.state === "running" &&
          (c.health === undefined || c.health === "healthy")
        );
      });
    } catch {
      return false;
    }
  }

  /** x-berth-health probes: each replica's HTTP check, within the health timeout from `started`. */
  private async probeHealth(
    call: (c: compose.Command, o?: { allowFailure?: boolean }) => Promise<{ stdout: string }>,
    plan: ApplyPlan,
    extras: NodeExtras,
    file: string,
    doc: RenderedServices,
    portOf: (service: string, port: number) => Promise<Upstream[]>,
    started: number,
    /**
     * Which services to probe (default: all but those left running). `beside`: the probes run
     * while Compose starts them, so a port is looked up again until their `up` has ended, and a
     * failed `up` ends the probes.
     */
    o: {
      only?: (service: string) => boolean;
      beside?: () => "starting" | "started" | "failed";
      /** Settles when `up` ends (a look waiting for its next turn then looks at once). */
      upEnded?: Promise<unknown>;
    } = {},
  ): Promise<void> {
    const { beside } = o;
    for (const s of extras.services) {
      const health = doc[s.name]?.labels?.["berth.health"];
      // A service left running was probed by the apply that started it.
      if (!health || plan.kept.includes(s.name) || (o.only && !o.only(s.name))) continue;
      const probe = JSON.parse(health) as { path: string; port: number; status: number };
      const project = plan.projectOf[s.name] as string;
      let restarting = 0;
      // Started without --wait: a container that exits ends the probe at once; one that its
      // restart policy keeps restarting, at the third look (a start or two may fail while a
      // dependency comes up).
      const gone = async (): Promise<string | undefined> => {
        if (beside?.() === "failed") return "its start failed";
        const ps = parsePs((await call(compose.ps({ project, file }), { allowFailure: true })).stdout);
        const mine = ps.filter((p) => p.Service === s.name);
        const exited = mine.find((p) => p.State === "exited" || p.State === "dead");
        if (exited)
          return `its container is ${exited.State}${exited.ExitCode !== undefined ? ` (exit code ${exited.ExitCode})` : ""}`;
        if (mine.some((p) => p.State === "restarting") && ++restarting >= 3)
          return "its container keeps restarting";
        return undefined;
      };
      const stopped = async (reason: string) => {
        const logs = await call(compose.logs({ project, file }, s.name, 20), { allowFailure: true });
        return new ApplyFailure(
          `service ${s.name} stopped before it passed its health probe: ${reason}`,
          lastLines(logs.stdout, 20),
        );
      };
      let upstreams: Upstream[] | undefined;
      // Each look: 250 ms, doubling to 1 s, so a first release whose web waits for its store's
      // health does not spend the two cores on looks (where a look is a Compose process).
      let wait = 250;
      while (upstreams === undefined) {
        try {
          upstreams = await portOf(s.name, probe.port);
        } catch (e) {
          // Beside Compose's `up`: the container may not exist yet, or (once `up` has ended) be
          // between two starts of a crash loop, with no port published.
          const now = beside?.();
          if (now === "failed") return;
          if (now === undefined || Date.now() - started > this.deps.healthTimeoutSeconds * 1000) throw e;
          if (now === "started") {
            const reason = await gone();
            if (reason !== undefined) throw await stopped(`${reason} (no port published yet)`);
          }
          await (now === "started" ? sleep(1000) : Promise.race([sleep(wait), o.upEnded]));
          wait = Math.min(2 * wait, 1000);
        }
      }
      for (const { host, port } of upstreams) {
        const remaining = Math.max(1000, this.deps.healthTimeoutSeconds * 1000 - (Date.now() - started));
        const r = await probeUntilHealthy(
          { host, port, path: probe.path, status: probe.status },
          { timeoutMs: remaining, gone },
        );
        if (!r.ok) {
          const logs = await call(compose.logs({ project, file }, s.name, 20), { allowFailure: true });
          throw new ApplyFailure(
            r.gone
              ? `service ${s.name} stopped before it passed its health probe: ${r.last}`
              : `service ${s.name} failed its health probe within ${this.deps.healthTimeoutSeconds} s: ${r.last}`,
            lastLines(logs.stdout, 20),
          );
        }
      }
    }
  }

  /**
   * Running and stable, for services with no health check at all: only what this apply started
   * (an unchanged stop-first service kept its container), for the stable time counted from each
   * container's own start (stability.ts), so it overlaps Compose's wait for the other services
   * and the probes.
   */
  private async stayRunning(
    call: (c: compose.Command, o?: { allowFailure?: boolean }) => Promise<{ stdout: string }>,
    plan: ApplyPlan,
    extras: NodeExtras,
    file: string,
    doc: RenderedServices,
    /** Which services this apply started (only those must prove they stay running). */
    fresh: ReadonlySet<string>,
    started: number,
  ): Promise<void> {
    const unchecked = extras.services.filter(
      (s) => fresh.has(s.name) && !doc[s.name]?.healthcheck && !doc[s.name]?.labels?.["berth.health"],
    );
    if (unchecked.length === 0) return;
    const stableS = this.deps.stableSeconds ?? 2;
    const names = unchecked.map((s) => s.name);
    const projects = [...new Set(names.map((n) => plan.projectOf[n] as string))];
    const deadline = started + this.deps.healthTimeoutSeconds * 1000;
    for (;;) {
      const runs: compose.ContainerRun[] = [];
      for (const project of projects) runs.push(...(await this.containerRuns(call, project)));
      const verdict = stability(names, runs, Date.now(), stableS * 1000);
      if (verdict.kind === "stable") return;
      if (verdict.kind === "failed" || Date.now() + verdict.ms > deadline) {
        const name = verdict.kind === "failed" ? verdict.service : (names[0] as string);
        const logs = await call(compose.logs({ project: plan.projectOf[name] as string, file }, name, 20), {
          allowFailure: true,
        });
        if (verdict.kind === "failed" && verdict.oneOff) {
          const tail = stripVTControlCharacters(logs.stdout);
          throw new ApplyFailure(
            oneOffFailureMessage(verdict.oneOff, lastLines(tail, 5)),
            lastLines(tail, 20),
          );
        }
        throw new ApplyFailure(
          verdict.kind === "failed"
            ? `service ${name} did not stay running (state ${verdict.state}${verdict.exitCode !== undefined ? `, exit code ${verdict.exitCode}` : ""})`
            : `services ${names.join(", ")} did not run ${stableS} s without a restart within ${this.deps.healthTimeoutSeconds} s`,
          lastLines(logs.stdout, 20),
        );
      }
      await sleep(verdict.ms);
    }
  }

  private async failingLogs(
    call: (c: compose.Command, o?: { allowFailure?: boolean }) => Promise<{ stdout: string }>,
    plan: ApplyPlan,
    file: string,
  ): Promise<string | undefined> {
    for (const group of [plan.stateless, plan.stateful]) {
      if (group.services.length === 0) continue;
      const ps = await call(compose.ps({ project: group.project, file }), { allowFailure: true });
      let entries: PsEntry[] = [];
      try {
        entries = parsePs(ps.stdout);
      } catch {
        // No usable ps output: no log tail.
      }
      const bad = entries.find((p) => p.State !== "running" || p.Health === "unhealthy");
      if (bad) {
        const logs = await call(compose.logs({ project: group.project, file }, bad.Service, 20), {
          allowFailure: true,
        });
        return `${bad.Service}:\n${lastLines(logs.stdout, 20)}`;
      }
    }
    return undefined;
  }

  private async serviceStates(
    call: (c: compose.Command, o?: { allowFailure?: boolean }) => Promise<{ stdout: string }>,
    plan: ApplyPlan,
    env: string,
  ): Promise<ApplyOutcome["services"]> {
    const ps = await call(compose.containerStates(env), { allowFailure: true });
    return compose
      .parseContainerStates(ps.stdout)
      .filter((c) => plan.projectOf[c.service] === c.project)
      .sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : 0))
      .map((c) => ({ name: c.service, state: c.state, ...(c.health ? { health: c.health } : {}) }));
  }

  /** Puts back the previous release's certificates (none when there is no previous release). */
  private async restoreCertificates(
    store: ReleaseStore,
    env: string,
    seq: number,
    previous: number | undefined,
  ): Promise<void> {
    try {
      let bundles: TlsBundle[] = [];
      if (previous !== undefined && previous !== seq) {
        bundles = tlsBundlesFromSecrets(this.deps.unseal(store.release(previous).payload));
      }
      await this.deps.proxy.installCertificates(env, bundles);
    } catch (e) {
      this.deps.log.error(
        { environment: env, err: describeError(e) },
        "restoring the previous certificates failed",
      );
    }
  }

  private async rollBack(
    store: ReleaseStore,
    release: Release,
    ctx: {
      /** The apply's plan (absent: resuming after a crash, every start-first service was new). */
      plan?: ApplyPlan;
      previous: number | undefined;
      switched: { route: RouteKey; from: Upstream[] }[];
      reason: string;
      logTail: string | undefined;
      redact: string[];
      secretEnv: Record<string, string>;
      certificatesInstalled?: boolean;
    },
  ): Promise<ApplyOutcome> {
    const { docker, proxy, log } = this.deps;
    const { payload, extras } = release;
    const env = payload.environmentId;
    const seq = payload.sequence;
    const file = store.composePath(seq);
    const plan = ctx.plan ?? planApply(extras);
    for (const s of ctx.switched.reverse()) {
      if (s.from.length > 0)
        await proxy
          .switchRoute(s.route, s.from)
          .catch((e) => log.error({ err: describeError(e) }, "switch back failed"));
    }
    if (ctx.certificatesInstalled) await this.restoreCertificates(store, env, seq, ctx.previous);
    await this.step("rollback:switched-back");
    // Only what this apply started: a service left running stays (it may share the project, when
    // an operator's rollback re-applies the release that started it).
    if (plan.kept.length === 0)
      await docker(compose.down(plan.stateless.project, 10), { allowFailure: true });
    else if (plan.stateless.services.length > 0) {
      const ps = await docker(compose.projectContainers(plan.stateless.project), { allowFailure: true });
      const ids = ps.stdout
        .split("\n")
        .map((l) => l.trim().split("\t"))
        .filter(([id, service]) => !!id && plan.stateless.services.includes(service ?? ""))
        .map(([id]) => id as string);
      if (ids.length > 0) {
        await docker(compose.stopContainers(ids, 10), { allowFailure: true });
        await docker(compose.removeContainers(ids), { allowFailure: true });
      }
    }
    await this.step("rollback:new-stopped");
    if (ctx.previous !== undefined && ctx.previous !== seq) {
      // The previous release's start-first project never stopped; put its stop-first services back.
      const prevFile = store.composePath(ctx.previous);
      const prev = store.release(ctx.previous);
      const prevPlan = planApply(prev.extras);
      if (prevPlan.stateful.services.length > 0 || plan.stateful.services.length > 0) {
        log.info(
          { environment: env, sequence: ctx.previous },
          "restoring the previous release's stop-first services",
        );
        const prevSecrets = this.secretEnv(prev.payload, prev.extras);
        await docker(
          compose.up({ project: prevPlan.stateful.project, file: prevFile }, prevPlan.stateful.services, {
            waitTimeoutSeconds: this.deps.healthTimeoutSeconds,
            noDeps: true,
          }),
          { env: prevSecrets, redact: [...ctx.redact, ...Object.values(prevSecrets)], allowFailure: true },
        );
        const stale = plan.stateful.services.filter((s) => !prevPlan.stateful.services.includes(s));
        if (stale.length > 0) {
          await docker(compose.stop({ project: plan.stateful.project, file }, stale, 10), {
            allowFailure: true,
          });
        }
      }
      await this.step("rollback:done");
      return {
        state: "rolled-back",
        sequence: seq,
        error: `release ${seq} failed and was rolled back to release ${ctx.previous}: ${ctx.reason}`,
        ...(ctx.logTail ? { logTail: ctx.logTail } : {}),
        services: [],
      };
    }
    await docker(compose.down(plan.stateful.project, 10), { allowFailure: true });
    await this.step("rollback:done");
    return {
      state: "failed",
      sequence: seq,
      error: `release ${seq} failed and there is no previous release to return to, so nothing of environment ${env} is running: ${ctx.reason}`,
      ...(ctx.logTail ? { logTail: ctx.logTail } : {}),
      services: [],
    };
  }
}

export { describeError };

/**
 * Looks at `ready` every 100 ms until it says yes (true) or `work` settles first (false); a look
 * that fails counts as a no, and one still under way when `work` settles, too.
 */
async function readyFirst(work: Promise<unknown>, ready: () => Promise<boolean>): Promise<boolean> {
  let settled = false;
  const done = work.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  while (!settled) {
    // A look that hangs ends when `work` does.
    if (await Promise.race([ready().catch(() => false), done.then(() => false)])) return true;
    await Promise.race([done, sleep(100)]);
  }
  return false;
}

/** A promise that never rejects: resolves to undefined, or to the error it failed with. */
function settle(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e ?? new Error("failed"),
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
