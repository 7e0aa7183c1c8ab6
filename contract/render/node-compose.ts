// Manifest → the Compose file a node runs. Built as data and printed as JSON (which is YAML 1.2),
// never with string templates. What the agent needs beyond Compose travels in top-level `x-berth`
// (Compose ignores `x-` keys): the networks and volumes the agent creates before Compose runs
// (Compose only ever creates containers, so two projects of one environment can share them) and
// the environment variables that carry unsealed secrets.
import type { AccessPolicy } from "../access/schema";
import { type EnvironmentBackup, type NodeBackup, repositoryUrl } from "../backup/schema";
import { ID_RULE, isId } from "../ids";
import type { Hook, Manifest, Service } from "../manifest/schema";
import { escapeDollars } from "./dollars";
import { type NodeExtras, type NodeFile, parseNodeExtras } from "./node-extras";
import {
  memoryLimit,
  ms,
  renderHealthcheck,
  renderLogging,
  SHARED_RENDER_DEFAULTS,
  type SharedRenderOptions,
} from "./service-fields";

/** The options, `defaultMemoryLimitBytes`, `logMaxSize` and `logMaxFiles` among them (service-fields.ts). */
export interface RenderOptions extends SharedRenderOptions {
  environmentId: string;
  sequence: number;
  /** Pinned image (`repo@sha256:…`) for every service, keyed by service name. */
  images: Record<string, string>;
  /** Volumes live at `<volumeRoot>/berth-env-<env>/volumes/<name>/data`; `/mnt` on cloud nodes. */
  volumeRoot?: string;
  /**
   * Cloud nodes: the block device that holds a volume (volume name → a stable device path such
   * as /dev/disk/by-id/scsi-0HC_Volume_123). The agent formats it once when blank and mounts it
   * at the volume's folder.
   */
  disks?: Record<string, string>;
  /** The environment's backups (target, schedule, retention); none when absent. */
  backup?: EnvironmentBackup | undefined;
  /** Who may enter the environment (logs, run, exec) and whether commands are on. */
  access?: AccessPolicy | undefined;
}

export const LABEL = {
  environment: "berth.environment",
  release: "berth.release",
  service: "berth.service",
  updateOrder: "berth.update-order",
  health: "berth.health",
} as const;

export type { NodeExtras };

/** The variable Compose reads for the agent's folder of secret and config files (a tmpfs). */
export const FILES_DIR_VARIABLE = "BERTH_FILES_DIR";

/** Where a file is bound from: under the agent's folder, never a path the release chooses. */
export function nodeFileSource(kind: "secret" | "config", service: string, name: string): string {
  return `\${${FILES_DIR_VARIABLE}:?the berth agent sets it}/${kind}s/${service}/${name}`;
}

export interface RenderedCompose {
  text: string;
  extras: NodeExtras;
}

export class RenderError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join("\n"));
    this.name = "RenderError";
  }
}

/** An image reference pinned by digest: NAME@sha256:<64 hex>. */
export const PINNED_IMAGE = /^[^\s@]+@sha256:[a-f0-9]{64}$/;

// Docker names use `_` after the environment id: ids cannot contain one, so the network or
// volume of one environment can never be mistaken for another's.
export function networkName(env: string, net: string): string {
  return net === "default" ? `berth_${env}` : `berth_${env}_${net}`;
}

export function volumeName(env: string, vol: string): string {
  return `berth_${env}_${vol}`;
}

/** A block device path the agent accepts: absolute, under /dev, no spaces or `..`. */
export const DISK_PATH = /^\/dev\/(?!.*\.\.)[A-Za-z0-9._:@+/-]+$/;

export function volumeDevice(root: string, env: string, vol: string): string {
  return `${root.replace(/\/+$/, "")}/berth-env-${env}/volumes/${vol}/data`;
}

/** The environment variable that carries a secret: stable, and distinct for distinct names. */
export function secretVariable(name: string): string {
  const readable = name.toUpperCase().replace(/[^A-Z0-9]/g, "_");
  const hex = Buffer.from(name).toString("hex").slice(0, 8);
  return readable === name ? `BERTH_SECRET_${readable}` : `BERTH_SECRET_${readable}_${hex}`;
}

/** A hook in x-berth, `$` written `$$` (dollars.ts; `parseNodeExtras` reads it back). */
function escHook(h: Hook): Hook {
  return {
    command: h.command.map(esc),
    ...(h.user ? { user: esc(h.user) } : {}),
    ...(h.workingDir ? { workingDir: esc(h.workingDir) } : {}),
    environment: Object.fromEntries(Object.entries(h.environment).map(([k, v]) => [k, esc(v)])),
  };
}

const esc = escapeDollars;

/** Container ports to publish on 127.0.0.1: the routed ones and the health probe's. */
export function publishedPorts(m: Manifest, service: string): number[] {
  const ports = new Set<number>();
  for (const r of m.routes) if (r.service === service) ports.add(r.port);
  const h = m.services[service]?.health;
  if (h) ports.add(h.port);
  return [...ports].sort((a, b) => a - b);
}

function renderService(
  m: Manifest,
  name: string,
  s: Service,
  o: Required<Omit<RenderOptions, "backup" | "access">>,
): Record<string, unknown> {
  const env = o.environmentId;
  const out: Record<string, unknown> = { image: o.images[name] };
  if (s.entrypoint) out.entrypoint = s.entrypoint.map(esc);
  if (s.command) out.command = s.command.map(esc);
  const environment: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.environment)) {
    environment[k] =
      "value" in v ? esc(v.value) : `\${${secretVariable(v.secret)}:?secret ${v.secret} was not provided}`;
  }
  if (Object.keys(environment).length > 0) out.environment = environment;
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.labels)) labels[esc(k)] = esc(v);
  labels[LABEL.environment] = env;
  // Stop-first services keep running across releases that do not change them, so the release
  // number stays off their labels (a changed label would recreate, and so restart, them).
  if (s.updateOrder === "start-first") labels[LABEL.release] = String(o.sequence);
  labels[LABEL.service] = name;
  labels[LABEL.updateOrder] = s.updateOrder;
  if (s.health) labels[LABEL.health] = JSON.stringify(s.health);
  out.labels = labels;
  out.restart = s.restart ?? "unless-stopped";
  if (s.healthcheck) out.healthcheck = renderHealthcheck(s.healthcheck);
  const deps = Object.entries(s.dependsOn);
  if (deps.length > 0) {
    out.depends_on = Object.fromEntries(
      deps.map(([d, c]) => [d, { condition: c.condition, restart: c.restart, required: c.required }]),
    );
  }
  const limits: Record<string, unknown> = { memory: memoryLimit(s, o) };
  if (s.resources.limits?.cpus !== undefined) limits.cpus = s.resources.limits.cpus;
  if (s.resources.limits?.pids !== undefined) limits.pids = s.resources.limits.pids;
  const resources: Record<string, unknown> = { limits };
  const reservations = s.resources.reservations;
  if (reservations) {
    resources.reservations = {
      ...(reservations.cpus !== undefined ? { cpus: reservations.cpus } : {}),
      ...(reservations.memory !== undefined ? { memory: String(reservations.memory) } : {}),
    };
  }
  out.deploy = { ...(s.replicas !== undefined && s.replicas > 1 ? { replicas: s.replicas } : {}), resources };
  out.logging = renderLogging(s, o);
  if (s.expose.length > 0) out.expose = s.expose.map(String);
  const ports = publishedPorts(m, name);
  if (ports.length > 0) out.ports = ports.map((p) => `127.0.0.1::${p}`);
  const files = [
    ...(s.secrets ?? []).map((f) => ({ ...f, kind: "secret" as const })),
    ...(s.configs ?? []).map((f) => ({ ...f, kind: "config" as const })),
  ];
  if (s.volumes.length > 0 || files.length > 0) {
    out.volumes = [
      ...s.volumes.map((v) => ({
        type: "volume",
        source: v.source,
        target: esc(v.target),
        read_only: v.readOnly,
        ...(v.subpath ? { volume: { subpath: esc(v.subpath) } } : {}),
      })),
      // Secrets and configs: files the agent writes on its tmpfs, bound read-only.
      ...files.map((f) => ({
        type: "bind",
        source: nodeFileSource(f.kind, name, f.source),
        target: esc(f.target),
        read_only: true,
        bind: { create_host_path: false },
      })),
    ];
  }
  out.networks = Object.fromEntries(
    Object.entries(s.networks).map(([n, cfg]) => [
      n,
      cfg.aliases.length > 0 ? { aliases: cfg.aliases.map(esc) } : {},
    ]),
  );
  if (s.stopGracePeriodMs !== undefined) out.stop_grace_period = ms(s.stopGracePeriodMs);
  if (s.stopSignal) out.stop_signal = s.stopSignal;
  renderRuntime(s, out);
  return out;
}

/** The harmless runtime fields, in Compose's own spelling. */
function renderRuntime(s: Service, out: Record<string, unknown>): void {
  if (s.init !== undefined) out.init = s.init;
  if (s.user !== undefined) out.user = esc(s.user);
  if (s.workingDir !== undefined) out.working_dir = esc(s.workingDir);
  if (s.readOnly !== undefined) out.read_only = s.readOnly;
  if (s.tmpfs) out.tmpfs = s.tmpfs.map(esc);
  if (s.shmSizeBytes !== undefined) out.shm_size = String(s.shmSizeBytes);
  if (s.ulimits) out.ulimits = s.ulimits;
  if (s.capDrop) out.cap_drop = s.capDrop.map(esc);
  if (s.stdinOpen !== undefined) out.stdin_open = s.stdinOpen;
  if (s.tty !== undefined) out.tty = s.tty;
  if (s.hostname !== undefined) out.hostname = s.hostname;
  if (s.domainname !== undefined) out.domainname = s.domainname;
  if (s.extraHosts) out.extra_hosts = s.extraHosts;
  if (s.dns) out.dns = s.dns;
  if (s.dnsSearch) out.dns_search = s.dnsSearch;
  if (s.dnsOpt) out.dns_opt = s.dnsOpt.map(esc);
  if (s.groupAdd) out.group_add = s.groupAdd.map(esc);
  if (s.platform !== undefined) out.platform = s.platform;
}

/** Renders the Compose file for one environment's release on a node. Pure: same input, same text. */
/**
 * What every render of a release checks first, for one node or for a swarm: the environment id,
 * the sequence, and an image pinned by digest for each service.
 */
export function releaseInputProblems(
  m: Manifest,
  o: { environmentId: string; sequence: number; images: Record<string, string> },
): string[] {
  const problems: string[] = [];
  if (!isId(o.environmentId)) problems.push(`environment id ${JSON.stringify(o.environmentId)}: ${ID_RULE}`);
  if (!Number.isInteger(o.sequence) || o.sequence < 1)
    problems.push(`sequence ${o.sequence}: must be a positive integer`);
  for (const name of m.order) {
    const img = o.images[name];
    if (!img)
      problems.push(
        `services.${name}: no pinned image given (build it or resolve its tag to a digest first)`,
      );
    else if (!PINNED_IMAGE.test(img))
      problems.push(`services.${name}: image ${img} is not pinned by digest (NAME@sha256:…)`);
  }
  return problems;
}

export function renderNodeCompose(m: Manifest, options: RenderOptions): RenderedCompose {
  const o: Required<Omit<RenderOptions, "backup" | "access">> & Pick<RenderOptions, "backup" | "access"> = {
    volumeRoot: "/mnt",
    disks: {},
    ...SHARED_RENDER_DEFAULTS,
    ...options,
  };
  const env = o.environmentId;
  const problems: string[] = [];
  problems.push(...releaseInputProblems(m, o));
  for (const [vol, disk] of Object.entries(o.disks ?? {})) {
    if (!(vol in m.volumes))
      problems.push(
        `disks.${vol}: the Compose file has no volume ${vol} (volumes: ${Object.keys(m.volumes).join(", ") || "none"})`,
      );
    else if (!DISK_PATH.test(disk))
      problems.push(
        `disks.${vol}: ${JSON.stringify(disk)} is not a device path under /dev (e.g. /dev/disk/by-id/...)`,
      );
  }
  const secretVars: Record<string, string> = {};
  const byVar = new Map<string, string>();
  for (const s of Object.values(m.services)) {
    for (const v of Object.values(s.environment)) {
      if (!("secret" in v)) continue;
      const variable = secretVariable(v.secret);
      const other = byVar.get(variable);
      if (other !== undefined && other !== v.secret) {
        problems.push(`secrets ${other} and ${v.secret} map to the same variable ${variable}: rename one`);
      }
      byVar.set(variable, v.secret);
      secretVars[v.secret] = variable;
    }
  }
  if (problems.length > 0) throw new RenderError(problems);

  const usedNetworks = new Set<string>(["default"]);
  for (const s of Object.values(m.services)) for (const n of Object.keys(s.networks)) usedNetworks.add(n);
  const networkNames = [...usedNetworks].sort((a, b) =>
    a === "default" ? -1 : b === "default" ? 1 : a.localeCompare(b),
  );
  const extras: NodeExtras = {
    environmentId: env,
    sequence: o.sequence,
    networks: networkNames.map((n) => ({
      name: networkName(env, n),
      internal: m.networks[n]?.internal ?? false,
    })),
    volumes: Object.keys(m.volumes)
      .sort()
      .map((v) => {
        const disk = o.disks?.[v];
        return {
          name: volumeName(env, v),
          device: volumeDevice(o.volumeRoot, env, v),
          ...(disk ? { disk } : {}),
        };
      }),
    secrets: secretVars,
    services: m.order.map((name) => ({
      name,
      updateOrder: m.services[name]?.updateOrder ?? "start-first",
      ports: publishedPorts(m, name),
      ...(m.services[name]?.replicas !== undefined ? { replicas: m.services[name]?.replicas } : {}),
      ...(m.services[name]?.postStart ? { postStart: m.services[name]?.postStart?.map(escHook) } : {}),
      ...(m.services[name]?.preStop ? { preStop: m.services[name]?.preStop?.map(escHook) } : {}),
      ...(m.services[name]?.updateParallelism !== undefined
        ? { updateParallelism: m.services[name]?.updateParallelism }
        : {}),
    })),
  };
  if (o.backup) extras.backup = escBackup(renderBackup(m, env, o.volumeRoot, o.backup));
  const nodeFiles: NodeFile[] = [];
  for (const name of m.order) {
    const s = m.services[name];
    for (const f of s?.secrets ?? []) {
      const secret = m.secrets?.[f.source]?.secret;
      if (secret === undefined)
        throw new RenderError([`services.${name}.secrets: ${f.source} is not declared`]);
      nodeFiles.push({
        kind: "secret",
        service: name,
        name: f.source,
        secret,
        uid: f.uid,
        gid: f.gid,
        mode: f.mode,
      });
    }
    for (const f of s?.configs ?? []) {
      const content = m.configs?.[f.source]?.content;
      if (content === undefined)
        throw new RenderError([`services.${name}.configs: ${f.source} is not declared`]);
      nodeFiles.push({
        kind: "config",
        service: name,
        name: f.source,
        content: esc(content),
        uid: f.uid,
        gid: f.gid,
        mode: f.mode,
      });
    }
  }
  if (nodeFiles.length > 0) extras.files = nodeFiles;
  if (o.access) extras.access = o.access;
  const doc: Record<string, unknown> = {
    services: Object.fromEntries(
      m.order.map((name) => [name, renderService(m, name, m.services[name] as Service, o)]),
    ),
    networks: Object.fromEntries(networkNames.map((n) => [n, { name: networkName(env, n), external: true }])),
  };
  if (Object.keys(m.volumes).length > 0) {
    doc.volumes = Object.fromEntries(
      Object.keys(m.volumes)
        .sort()
        .map((v) => [v, { name: volumeName(env, v), external: true }]),
    );
  }
  doc["x-berth"] = extras;
  const header = `# Rendered by berth for environment ${env}, release ${o.sequence}. Do not edit: the next release replaces it.\n`;
  // JSON is YAML 1.2, and Compose reads it as such. The yaml library's stringify took ~3 ms of a
  // ~3.1 ms render for 20 services (bench:contract); JSON.stringify takes 0.06 ms.
  return { text: `${header}${JSON.stringify(doc, null, 2)}\n`, extras };
}

/** What the node needs to back up the environment's volumes: every volume not marked `x-berth-backup: false`. */
export function renderBackup(m: Manifest, env: string, volumeRoot: string, b: EnvironmentBackup): NodeBackup {
  return {
    repository: repositoryUrl(b.target, env),
    region: b.target.region,
    pruneSchedule: b.pruneSchedule,
    checkSchedule: b.checkSchedule,
    restoreOnFirstApply: b.restoreOnFirstApply,
    ...(b.restore ? { restore: { ...b.restore } } : {}),
    secrets: { ...b.secrets },
    volumes: Object.keys(m.volumes)
      .sort()
      .filter((v) => m.volumes[v]?.backup?.enabled !== false)
      .map((v) => {
        const vb = m.volumes[v]?.backup;
        return {
          name: v,
          device: volumeDevice(volumeRoot, env, v),
          schedule: vb?.schedule ?? b.schedule,
          retention: vb?.retention ?? b.retention,
          ...(vb?.before ? { before: vb.before } : {}),
          ...(vb?.after ? { after: vb.after } : {}),
          stop: vb?.stop ?? [],
        };
      }),
  };
}

/** Backup hooks in x-berth, `$` written `$$` like every string of the file (dollars.ts). */
function escBackup(b: NodeBackup): NodeBackup {
  const escCommand = (h: { service: string; command: string[] }) => ({ ...h, command: h.command.map(esc) });
  return {
    ...b,
    volumes: b.volumes.map((v) => ({
      ...v,
      ...(v.before ? { before: escCommand(v.before) } : {}),
      ...(v.after ? { after: escCommand(v.after) } : {}),
    })),
  };
}

/** The secret names a backup needs sealed into the release. */
export function backupSecretNames(b: EnvironmentBackup | undefined): string[] {
  return b ? [b.secrets.password, b.secrets.accessKeyId, b.secrets.secretAccessKey] : [];
}

/** Reads the `x-berth` extras back from a rendered file's parsed document (zod-parsed, never cast). */
export function readNodeExtras(doc: unknown): NodeExtras {
  return parseNodeExtras(doc);
}
