// Manifest → the Compose file a swarm manager deploys with `docker stack deploy`. Pure: the same
// input gives the same text. Built as data and printed as JSON (YAML 1.2), like the single-node
// renderer (contract/render/node-compose.ts), which this file leaves untouched.
//
// What Swarm changes against the single-node file:
// - `deploy`: replicas, a rolling update (`update_config`: the manifest's parallelism, else one task at a time, the service's
//   order, `failure_action: rollback`, a `monitor` long enough for the health check to fail),
//   the same for rollbacks, a restart policy in place of `restart:`, resources.
// - A service that mounts a volume is pinned to the node that holds the volume's disk
//   (`node.labels.berth.node == <id>`, a label the swarm's manager agent puts on each node).
// - Secrets and configs are swarm objects under versioned names (names.ts), declared external:
//   the manager's agent creates them (a secret from its sealed value) before it deploys.
//   Secrets in environment variables are refused: Swarm keeps a service's variables in its
//   spec, where `docker inspect` shows them.
// - Networks are overlays (encrypted unless asked not to), services resolve by DNS round robin
//   (`endpoint_mode: dnsrr`: the node proxies reach the tasks themselves, so no virtual IP).
// - No published ports: traffic reaches tasks through the nodes' proxies on the overlay.
// What the agent needs beyond Compose travels in top-level `x-berth` (Swarm deploys no `x-` key,
// but interpolates them: its free text is written `$$`).
import * as z from "zod";
import { type EnvironmentBackup, repositoryUrl } from "../backup/schema";
import { idSchema } from "../ids";
import {
  type Healthcheck,
  type Manifest,
  nameSchema,
  routeSchema,
  type Service,
  secretNameSchema,
} from "../manifest/schema";
import { escapeDollars, unescapeDollars } from "../render/dollars";
import {
  DISK_PATH,
  LABEL,
  networkName,
  PINNED_IMAGE,
  RenderError,
  releaseInputProblems,
  volumeName,
} from "../render/node-compose";
import {
  memoryLimit,
  ms,
  renderHealthcheck,
  renderLogging,
  SHARED_RENDER_DEFAULTS,
  type SharedRenderOptions,
} from "../render/service-fields";
import { type SwarmBackup, swarmBackupSchema } from "./backups";
import { configVersion, NODE_LABEL, stackName, swarmObjectName } from "./names";
import { PROXY_CONFIG_PATH, PROXY_SERVICE, PROXY_TARGET_PORT, renderSwarmProxyConfig } from "./proxy";
import { type HeldVolume, heldVolumeSchema } from "./volumes";

/** The options, `defaultMemoryLimitBytes`, `logMaxSize` and `logMaxFiles` among them (render/service-fields.ts). */
export interface SwarmRenderOptions extends SharedRenderOptions {
  environmentId: string;
  sequence: number;
  /** Pinned image (`repo@sha256:…`) for every service. */
  images: Record<string, string>;
  /** The node id (berth:nodes[].id) that holds each volume's disk. */
  volumeNodes: Record<string, string>;
  /** Each berth secret a service mounts → its version (names.ts: secretVersion, made by the program). */
  secretVersions: Record<string, string>;
  /** Overlay networks encrypted (IPsec); on by default. */
  encryptNetworks?: boolean;
  /** How long Swarm watches an updated task before it counts the update done (at least). */
  monitorMs?: number;
  /**
   * The environment's proxy on every node (proxy.ts): a global service of this pinned HAProxy
   * image, publishing `port` on each node (host mode) and routing the routes to the tasks.
   * Absent, or an environment without routes: no proxy.
   */
  proxy?: { image: string; port: number } | undefined;
  /**
   * The environment's backups: `x-berth.backup`, each volume with the node that holds it. The
   * leader hands each holder its part (contract/swarm/backups.ts); absent: no backups.
   */
  backup?: EnvironmentBackup | undefined;
  /**
   * Cloud nodes: Compose volume → the block device of its disk on its holder (as a single node's
   * `disks`). The holder mounts it and binds the Docker volume to it before the leader deploys
   * (contract/swarm/volumes.ts).
   */
  disks?: Record<string, string> | undefined;
}

/** The options with their defaults (the proxy, the backups and the disks stay optional). */
type Options = Required<Omit<SwarmRenderOptions, "proxy" | "backup" | "disks">> &
  Pick<SwarmRenderOptions, "proxy" | "backup" | "disks">;

/** What the manager's agent does besides `docker stack deploy` (the file's `x-berth`, parsed, never cast). */
export const swarmExtrasSchema = z
  .object({
    environmentId: idSchema(),
    sequence: z.number().int().positive(),
    stack: z.string().regex(/^berth-[a-z0-9][a-z0-9-]{0,62}$/),
    /** Swarm secrets to create from sealed values: the versioned name and the berth secret. */
    secrets: z.array(z.object({ name: z.string().min(1), secret: secretNameSchema }).strict()),
    /** Swarm configs to create: the versioned name and the content. */
    configs: z.array(z.object({ name: z.string().min(1), content: z.string() }).strict()),
    /** Services pinned to a node, and why (the volume whose disk it holds). */
    pins: z.array(z.object({ service: nameSchema, node: idSchema(), volume: nameSchema }).strict()),
    /** Replicas per service, for the convergence check. */
    replicas: z.record(nameSchema, z.number().int().nonnegative()),
    /**
     * The environment's proxy on every node (a global service, counted in convergence on every
     * node that may run it): its host port on each node and the routes it serves, which every
     * node's own HAProxy sends there (node-agent/swarm/routes-pass.ts).
     */
    proxy: z
      .object({
        port: z.number().int().min(1024).max(65535),
        routes: z.array(routeSchema.pick({ host: true, path: true }).strict()),
      })
      .strict()
      .optional(),
    /** The environment's backups (contract/swarm/backups.ts): each volume with its holder. */
    backup: swarmBackupSchema.optional(),
    /**
     * Each volume with its holder and, on a cloud node, its disk: the holders make them ready
     * before the leader deploys (contract/swarm/volumes.ts).
     */
    volumes: z.array(heldVolumeSchema).optional(),
  })
  .strict();
export type SwarmExtras = z.infer<typeof swarmExtrasSchema>;

/** A stack file's `x-berth` as the program meant it: checked, configs' content unescaped. */
export function parseSwarmExtras(value: unknown): SwarmExtras | undefined {
  const parsed = swarmExtrasSchema.safeParse(value);
  if (!parsed.success) return undefined;
  const hooks = (b: SwarmBackup, f: (s: string) => string): SwarmBackup => ({
    ...b,
    volumes: b.volumes.map((v) => ({
      ...v,
      ...(v.before ? { before: { ...v.before, command: v.before.command.map(f) } } : {}),
      ...(v.after ? { after: { ...v.after, command: v.after.command.map(f) } } : {}),
    })),
  });
  const { backup, ...rest } = parsed.data;
  return {
    ...rest,
    configs: parsed.data.configs.map((c) => ({ name: c.name, content: unescapeDollars(c.content) })),
    ...(backup ? { backup: hooks(backup, unescapeDollars) } : {}),
  };
}

/** Backup hooks as the stack file writes them (`$` as `$$`). */
function escSwarmBackup(b: SwarmBackup): SwarmBackup {
  return {
    ...b,
    volumes: b.volumes.map((v) => ({
      ...v,
      ...(v.before ? { before: { ...v.before, command: v.before.command.map(escapeDollars) } } : {}),
      ...(v.after ? { after: { ...v.after, command: v.after.command.map(escapeDollars) } } : {}),
    })),
  };
}

/**
 * What a volume's holder needs to back the environment's volumes up (every volume not marked
 * `x-berth-backup: false`), and what a node group cannot do, each with what to do instead.
 */
export function renderSwarmBackup(
  m: Manifest,
  env: string,
  volumeNodes: Readonly<Record<string, string>>,
  b: EnvironmentBackup,
): { backup: SwarmBackup; problems: string[] } {
  const problems: string[] = [];
  if (b.restore)
    problems.push(
      "backup.restore: a restore through the program is not built on a node group; remove it and run berth-agent restore ENV on the node that holds the volume (a replaced holder fills its empty volumes from their newest snapshots before it joins the swarm)",
    );
  const volumes = Object.keys(m.volumes)
    .sort()
    .filter((v) => m.volumes[v]?.backup?.enabled !== false);
  for (const v of volumes) {
    if (volumeNodes[v] === undefined)
      problems.push(
        `volumes.${v}: backed up, but no node holds its disk; set berth:environments[].volumes[].node for it (or x-berth-backup: false)`,
      );
    if ((m.volumes[v]?.backup?.stop ?? []).length > 0)
      problems.push(
        `volumes.${v}.x-berth-backup.stop: on a node group Swarm restarts a stopped task at once; use a before hook (a dump or a flush) instead`,
      );
  }
  return {
    backup: {
      repository: repositoryUrl(b.target, env),
      region: b.target.region,
      pruneSchedule: b.pruneSchedule,
      checkSchedule: b.checkSchedule,
      restoreOnFirstApply: b.restoreOnFirstApply,
      secrets: { ...b.secrets },
      volumes: volumes.map((v) => {
        const vb = m.volumes[v]?.backup;
        return {
          name: v,
          node: volumeNodes[v] ?? "",
          schedule: vb?.schedule ?? b.schedule,
          retention: vb?.retention ?? b.retention,
          ...(vb?.before ? { before: vb.before } : {}),
          ...(vb?.after ? { after: vb.after } : {}),
          stop: [],
        };
      }),
    },
    problems,
  };
}

export interface RenderedSwarmStack {
  text: string;
  extras: SwarmExtras;
}

export const DEFAULT_MONITOR_MS = 30_000;
const esc = escapeDollars;

/** Long enough to see a task fail its health check: start period plus (retries + 1) intervals. */
export function monitorFor(h: Healthcheck | undefined, floorMs: number): number {
  if (!h || h.disable) return floorMs;
  const interval = h.intervalMs ?? 30_000;
  return Math.max(floorMs, (h.startPeriodMs ?? 0) + interval * ((h.retries ?? 3) + 1));
}

/** Compose's `restart:` as Swarm's restart policy. */
function restartPolicy(restart: string | undefined): Record<string, unknown> {
  if (restart === "no") return { condition: "none" };
  const m = restart?.match(/^on-failure(?::(\d+))?$/);
  if (m) return { condition: "on-failure", ...(m[1] ? { max_attempts: Number(m[1]) } : {}) };
  return { condition: "any" };
}

/** Fields Swarm cannot run, each with what to do instead. */
function unsupported(name: string, s: Service): string[] {
  const p: string[] = [];
  for (const [k, v] of Object.entries(s.environment))
    if ("secret" in v)
      p.push(
        `services.${name}.environment.${k}: on a node group a secret reaches a service as a file (Compose secrets:), not a variable: Swarm keeps variables in the service's spec, which docker inspect shows`,
      );
  if (s.postStart || s.preStop)
    p.push(
      `services.${name}.${s.postStart ? "post_start" : "pre_stop"}: Swarm has no lifecycle hooks; run it in the service's entrypoint, or place the environment on a node`,
    );
  if (s.shmSizeBytes !== undefined)
    p.push(`services.${name}.shm_size: Swarm services cannot set it; remove it or mount a tmpfs at /dev/shm`);
  if (Object.values(s.dependsOn).some((d) => d.condition !== "service_started"))
    p.push(
      `services.${name}.depends_on: Swarm starts services independently and cannot wait for a condition; make the service retry its dependency (its health check and restart policy cover the wait)`,
    );
  return p;
}

function renderService(
  name: string,
  s: Service,
  o: Options,
  pins: SwarmExtras["pins"],
): Record<string, unknown> {
  const env = o.environmentId;
  const out: Record<string, unknown> = { image: o.images[name] };
  if (s.entrypoint) out.entrypoint = s.entrypoint.map(esc);
  if (s.command) out.command = s.command.map(esc);
  const environment: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.environment)) if ("value" in v) environment[k] = esc(v.value);
  if (Object.keys(environment).length > 0) out.environment = environment;
  // Container labels: stable across releases, so a release that changes nothing else restarts nothing.
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.labels)) labels[esc(k)] = esc(v);
  labels[LABEL.environment] = env;
  labels[LABEL.service] = name;
  if (s.health) labels[LABEL.health] = JSON.stringify(s.health);
  out.labels = labels;
  if (s.healthcheck) out.healthcheck = renderHealthcheck(s.healthcheck);
  const limits: Record<string, unknown> = { memory: memoryLimit(s, o) };
  if (s.resources.limits?.cpus !== undefined) limits.cpus = String(s.resources.limits.cpus);
  if (s.resources.limits?.pids !== undefined) limits.pids = s.resources.limits.pids;
  const resources: Record<string, unknown> = { limits };
  const r = s.resources.reservations;
  if (r)
    resources.reservations = {
      ...(r.cpus !== undefined ? { cpus: String(r.cpus) } : {}),
      ...(r.memory !== undefined ? { memory: String(r.memory) } : {}),
    };
  const monitor = ms(monitorFor(s.healthcheck, o.monitorMs));
  // The manifest's `update_config.parallelism`; absent: Swarm's own default, one task at a time.
  const update = {
    parallelism: s.updateParallelism ?? 1,
    delay: "0s",
    order: s.updateOrder,
    failure_action: "rollback",
    monitor,
    max_failure_ratio: 0,
  };
  const deploy: Record<string, unknown> = {
    mode: "replicated",
    replicas: s.replicas ?? 1,
    endpoint_mode: "dnsrr",
    labels: { [LABEL.environment]: env, [LABEL.release]: String(o.sequence), [LABEL.service]: name },
    update_config: update,
    rollback_config: {
      parallelism: 1,
      delay: "0s",
      order: s.updateOrder,
      failure_action: "pause",
      monitor,
      max_failure_ratio: 0,
    },
    restart_policy: restartPolicy(s.restart),
    resources,
  };
  const nodes = [...new Set(s.volumes.map((v) => o.volumeNodes[v.source] as string))];
  const [node] = nodes;
  if (node !== undefined) {
    deploy.placement = { constraints: [`node.labels.${NODE_LABEL} == ${node}`] };
    for (const v of s.volumes) pins.push({ service: name, node, volume: v.source });
  }
  out.deploy = deploy;
  out.logging = renderLogging(s, o);
  const mounts: Record<string, unknown>[] = s.volumes.map((v) => ({
    type: "volume",
    source: v.source,
    target: esc(v.target),
    read_only: v.readOnly,
    ...(v.subpath ? { volume: { subpath: esc(v.subpath) } } : {}),
  }));
  for (const t of s.tmpfs ?? []) {
    const [target = t, options = ""] = t.split(/:(.*)/s);
    const size = options.match(/(?:^|,)size=(\d+)(?:,|$)/)?.[1];
    mounts.push({ type: "tmpfs", target: esc(target), ...(size ? { tmpfs: { size: Number(size) } } : {}) });
  }
  if (mounts.length > 0) out.volumes = mounts;
  // `source` names the top-level entry, whose `name` is the versioned swarm object.
  const files = (list: Service["secrets"]) =>
    (list ?? []).map((f) => ({
      source: f.source,
      target: esc(f.target),
      uid: String(f.uid),
      gid: String(f.gid),
      mode: f.mode,
    }));
  if (s.secrets?.length) out.secrets = files(s.secrets);
  if (s.configs?.length) out.configs = files(s.configs);
  out.networks = Object.fromEntries(
    Object.entries(s.networks).map(([n, cfg]) => [
      n,
      cfg.aliases.length > 0 ? { aliases: cfg.aliases.map(esc) } : {},
    ]),
  );
  if (s.stopGracePeriodMs !== undefined) out.stop_grace_period = ms(s.stopGracePeriodMs);
  if (s.stopSignal) out.stop_signal = s.stopSignal;
  if (s.init !== undefined) out.init = s.init;
  if (s.user !== undefined) out.user = esc(s.user);
  if (s.workingDir !== undefined) out.working_dir = esc(s.workingDir);
  if (s.readOnly !== undefined) out.read_only = s.readOnly;
  if (s.ulimits) out.ulimits = s.ulimits;
  if (s.capDrop) out.cap_drop = s.capDrop.map(esc);
  if (s.stdinOpen !== undefined) out.stdin_open = s.stdinOpen;
  if (s.tty !== undefined) out.tty = s.tty;
  if (s.hostname !== undefined) out.hostname = s.hostname;
  if (s.extraHosts) out.extra_hosts = s.extraHosts;
  if (s.dns) out.dns = s.dns;
  if (s.dnsSearch) out.dns_search = s.dnsSearch;
  if (s.dnsOpt) out.dns_opt = s.dnsOpt.map(esc);
  if (s.groupAdd) out.group_add = s.groupAdd.map(esc);
  return out;
}

/**
 * The environment's proxy on every node (proxy.ts): global, one host-mode port, on the networks of
 * the routed services, its config a versioned swarm config (a route change rolls it out).
 */
function renderProxy(
  m: Manifest,
  o: Options,
  proxy: { image: string; port: number },
): Record<string, unknown> {
  const env = o.environmentId;
  const networks = new Set<string>();
  for (const r of m.routes)
    for (const n of Object.keys(m.services[r.service]?.networks ?? {})) networks.add(n);
  const monitor = ms(o.monitorMs);
  return {
    image: proxy.image,
    command: ["haproxy", "-W", "-db", "-f", PROXY_CONFIG_PATH],
    labels: { [LABEL.environment]: env, [LABEL.service]: PROXY_SERVICE },
    deploy: {
      mode: "global",
      endpoint_mode: "dnsrr",
      labels: {
        [LABEL.environment]: env,
        [LABEL.release]: String(o.sequence),
        [LABEL.service]: PROXY_SERVICE,
      },
      // One host port per node: the new proxy can only start once the old one is gone.
      update_config: {
        parallelism: 1,
        delay: "0s",
        order: "stop-first",
        failure_action: "rollback",
        monitor,
      },
      rollback_config: { parallelism: 1, delay: "0s", order: "stop-first", failure_action: "pause", monitor },
      restart_policy: { condition: "any", delay: "1s" },
      resources: { limits: { memory: String(o.defaultMemoryLimitBytes) } },
    },
    ports: [{ target: PROXY_TARGET_PORT, published: proxy.port, protocol: "tcp", mode: "host" }],
    configs: [{ source: PROXY_SERVICE, target: PROXY_CONFIG_PATH, uid: "0", gid: "0", mode: 0o444 }],
    networks: Object.fromEntries([...networks].sort().map((n) => [n, {}])),
    logging: {
      driver: "json-file",
      options: { "max-size": o.logMaxSize, "max-file": String(o.logMaxFiles) },
    },
  };
}

/** Renders the stack file of one environment's release on a node group. */
export function renderSwarmStack(m: Manifest, options: SwarmRenderOptions): RenderedSwarmStack {
  const o: Options = {
    encryptNetworks: true,
    monitorMs: DEFAULT_MONITOR_MS,
    ...SHARED_RENDER_DEFAULTS,
    ...options,
  };
  const env = o.environmentId;
  const problems: string[] = [];
  problems.push(...releaseInputProblems(m, o));
  for (const name of m.order) {
    const s = m.services[name] as Service;
    problems.push(...unsupported(name, s));
    const nodes = new Set<string>();
    for (const v of s.volumes) {
      const node = o.volumeNodes[v.source];
      if (node === undefined)
        problems.push(
          `volumes.${v.source}: no node holds its disk; set berth:environments[].volumes[].node for it (services.${name} mounts it)`,
        );
      else nodes.add(node);
    }
    if (nodes.size > 1)
      problems.push(
        `services.${name}.volumes: mounts volumes held by different nodes (${[...nodes].join(", ")}); a task runs on one node: keep its volumes on one node`,
      );
  }
  for (const v of Object.keys(o.volumeNodes))
    if (!(v in m.volumes))
      problems.push(
        `volumes.${v}: the Compose file has no such volume (volumes: ${Object.keys(m.volumes).join(", ") || "none"})`,
      );
  const held: HeldVolume[] = [];
  for (const [v, disk] of Object.entries(o.disks ?? {})) {
    if (!disk) continue;
    if (!(v in m.volumes))
      problems.push(
        `disks.${v}: the Compose file has no volume ${v} (volumes: ${Object.keys(m.volumes).join(", ") || "none"})`,
      );
    else if (!DISK_PATH.test(disk))
      problems.push(
        `disks.${v}: ${JSON.stringify(disk)} is not a device path under /dev (e.g. /dev/disk/by-id/...)`,
      );
    else if (!o.volumeNodes[v])
      problems.push(
        `volumes.${v}: its disk ${disk} is attached, but no node holds it; set berth:environments[].volumes[].node for it`,
      );
  }
  for (const v of Object.keys(m.volumes).sort()) {
    const node = o.volumeNodes[v];
    const disk = o.disks?.[v];
    if (node) held.push({ name: v, node, ...(disk ? { disk } : {}) });
  }
  const secretNames = new Map<string, string>();
  const extrasSecrets: SwarmExtras["secrets"] = [];
  for (const [composeName, s] of Object.entries(m.secrets ?? {})) {
    const version = o.secretVersions[s.secret];
    if (version === undefined) {
      problems.push(
        `secrets.${composeName}: no version for berth secret ${s.secret} (the program computes it from the value)`,
      );
      continue;
    }
    if (!/^[0-9a-f]{12}$/.test(version)) {
      problems.push(`secrets.${composeName}: version ${JSON.stringify(version)} is not 12 hex digits`);
      continue;
    }
    const name = swarmObjectName(env, composeName, version);
    secretNames.set(composeName, name);
    extrasSecrets.push({ name, secret: s.secret });
  }
  const proxy = o.proxy && m.routes.length > 0 ? o.proxy : undefined;
  if (proxy) {
    if (PROXY_SERVICE in m.services)
      problems.push(
        `services.${PROXY_SERVICE}: the name of berth's proxy on a node group; rename the service`,
      );
    if (!PINNED_IMAGE.test(proxy.image))
      problems.push(`the proxy's image ${proxy.image} is not pinned by digest`);
    if (!Number.isInteger(proxy.port) || proxy.port < 1024 || proxy.port > 65535)
      problems.push(`the proxy's port ${proxy.port} is not within 1024-65535`);
  }
  const backup = o.backup ? renderSwarmBackup(m, env, o.volumeNodes, o.backup) : undefined;
  if (backup) problems.push(...backup.problems);
  if (problems.length > 0) throw new RenderError(problems);

  const configNames = new Map<string, string>();
  const extrasConfigs: SwarmExtras["configs"] = [];
  for (const [composeName, c] of Object.entries(m.configs ?? {})) {
    const name = swarmObjectName(env, composeName, configVersion(c.content));
    configNames.set(composeName, name);
    extrasConfigs.push({ name, content: c.content });
  }
  const pins: SwarmExtras["pins"] = [];
  const services = Object.fromEntries(
    m.order.map((name) => [name, renderService(name, m.services[name] as Service, o, pins)]),
  );
  if (proxy) {
    const content = renderSwarmProxyConfig(m.routes, stackName(env));
    const name = swarmObjectName(env, PROXY_SERVICE, configVersion(content));
    configNames.set(PROXY_SERVICE, name);
    extrasConfigs.push({ name, content });
    services[PROXY_SERVICE] = renderProxy(m, o, proxy);
  }
  const used = new Set<string>(["default"]);
  for (const s of Object.values(m.services)) for (const n of Object.keys(s.networks)) used.add(n);
  const networks = Object.fromEntries(
    [...used]
      .sort((a, b) => (a === "default" ? -1 : b === "default" ? 1 : a.localeCompare(b)))
      .map((n) => [
        n,
        {
          name: networkName(env, n),
          driver: "overlay",
          attachable: false,
          ...(m.networks[n]?.internal ? { internal: true } : {}),
          ...(o.encryptNetworks ? { driver_opts: { encrypted: "" } } : {}),
          labels: { [LABEL.environment]: env },
        },
      ]),
  );
  const doc: Record<string, unknown> = { version: "3.9", services, networks };
  if (Object.keys(m.volumes).length > 0)
    doc.volumes = Object.fromEntries(
      Object.keys(m.volumes)
        .sort()
        .map((v) => [v, { name: volumeName(env, v), labels: { [LABEL.environment]: env } }]),
    );
  if (secretNames.size > 0)
    doc.secrets = Object.fromEntries([...secretNames].map(([k, name]) => [k, { name, external: true }]));
  if (configNames.size > 0)
    doc.configs = Object.fromEntries([...configNames].map(([k, name]) => [k, { name, external: true }]));
  const extras: SwarmExtras = {
    environmentId: env,
    sequence: o.sequence,
    stack: stackName(env),
    secrets: extrasSecrets,
    configs: extrasConfigs,
    pins,
    replicas: Object.fromEntries(m.order.map((n) => [n, m.services[n]?.replicas ?? 1])),
    ...(proxy
      ? {
          proxy: {
            port: proxy.port,
            routes: m.routes.map((r) => ({ host: r.host, ...(r.path ? { path: r.path } : {}) })),
          },
        }
      : {}),
    ...(backup ? { backup: backup.backup } : {}),
    ...(held.length > 0 ? { volumes: held } : {}),
  };
  // `docker stack deploy` interpolates `x-` fields too (a `${X:?…}` in a config's content
  // refuses the whole file): free text is written `$$`, and parseSwarmExtras reads it back.
  doc["x-berth"] = {
    ...extras,
    configs: extras.configs.map((c) => ({ name: c.name, content: esc(c.content) })),
    ...(extras.backup ? { backup: escSwarmBackup(extras.backup) } : {}),
  };
  const header = `# Rendered by berth for environment ${env}, release ${o.sequence}, on a swarm (docker stack deploy). Do not edit.\n`;
  return { text: `${header}${JSON.stringify(doc, null, 2)}\n`, extras };
}
