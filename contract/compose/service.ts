// One service: the accepted fields, normalized into the manifest's Service shape.
import type { Service } from "../manifest/schema";
import { readBuild } from "./build";
import { readCommand } from "./command";
import { type DependencyRef, readDependsOn } from "./depends-on";
import { readDeploy, readReplicas } from "./deploy";
import { readEnvFiles, readLabelFiles } from "./env-file";
import { readEnvironment } from "./environment";
import { readDuration, readHealthcheck } from "./healthcheck";
import { HOOK_FIELDS, readHooks } from "./hooks";
import { readHttpHealth } from "./http-health";
import { readLabels } from "./labels";
import { readMounts } from "./mounts";
import { readExpose, readPorts } from "./ports";
import type { Path } from "./problem";
import { asMap, asText, asTextList, type Ctx, checkKeys, setKey } from "./read";
import { COMPOSE_SERVICE_FIELDS, SERVICE_REJECTED } from "./rejections";
import { RUNTIME_FIELDS, readRuntime } from "./runtime";
import { readFileMounts } from "./secrets";
import { readServiceNetworks } from "./service-networks";
import type { YNode } from "./tree";

export const SERVICE_FIELDS = [
  "image",
  "build",
  "command",
  "entrypoint",
  "environment",
  "env_file",
  "volumes",
  "depends_on",
  "healthcheck",
  "deploy",
  "restart",
  "expose",
  "ports",
  "stop_grace_period",
  "stop_signal",
  "labels",
  "networks",
  "profiles",
  "secrets",
  "configs",
  // Resolved by compose-files.ts; still here only when it could not be (that problem is reported).
  "extends",
  "scale",
  "links",
  "label_file",
  ...HOOK_FIELDS,
  ...RUNTIME_FIELDS,
] as const;

export const SERVICE_EXTENSIONS = ["x-berth-health"];

/**
 * A Docker image reference: [registry[:port]/]path[:tag][@digest], lowercase path components.
 * (The OCI client parses references fully; this only catches what is plainly not one.)
 */
const IMAGE_REF =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?(?::[0-9]+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@[a-z0-9]+(?:[+._-][a-z0-9]+)*:[0-9a-fA-F]{32,})?$/;

export interface Declared {
  volumes: ReadonlySet<string>;
  networks: ReadonlySet<string>;
  secrets?: ReadonlySet<string>;
  configs?: ReadonlySet<string>;
}

/** `links: [SERVICE[:ALIAS]]`: resolved by load.ts once every service is read. */
export interface LinkRef extends DependencyRef {
  alias: string;
}

export interface ServiceResult {
  service: Service;
  dependencyRefs: DependencyRef[];
  routeHints: number[];
  links: LinkRef[];
}

export function readService(
  ctx: Ctx,
  name: string,
  node: YNode,
  path: Path,
  declared: Declared,
): ServiceResult | undefined {
  const map = asMap(ctx, node, path, `service ${name}`);
  if (!map) return undefined;
  checkKeys(ctx, map, path, {
    accepted: SERVICE_FIELDS,
    rejected: SERVICE_REJECTED,
    known: COMPOSE_SERVICE_FIELDS,
    berthExtensions: SERVICE_EXTENSIONS,
    what: "service field",
  });
  // One lookup table per service: get() asks for some 60 fields, each a scan of the entries before.
  const byKey = new Map(map.entries.map((e) => [e.key, e]));
  const get = (k: string) => byKey.get(k);
  const at = (k: string): Path => [...path, k];
  const s: Service = {
    environment: {},
    volumes: [],
    dependsOn: {},
    resources: {},
    updateOrder: "start-first",
    expose: [],
    labels: {},
    networks: { default: { aliases: [] } },
  };
  let dependencyRefs: DependencyRef[] = [];
  let routeHints: number[] = [];

  const image = get("image");
  if (image) {
    const v = asText(ctx, image.value, at("image"), "image");
    if (v !== undefined) {
      if (IMAGE_REF.test(v)) s.image = v;
      else {
        ctx.problems.error(
          image.value.pos,
          at("image"),
          `${JSON.stringify(v)} is not an image reference`,
          "write [registry/]name[:tag][@sha256:digest], lowercase, e.g. ghcr.io/acme/web:1.2",
        );
      }
    }
  }
  const build = get("build");
  if (build) {
    const b = readBuild(ctx, build.value, at("build"));
    if (b) s.build = b;
  }
  if (!image && !build && !get("extends")) {
    ctx.problems.error(
      map.entries[0]?.keyPos ?? map.pos,
      path,
      `service ${name} has neither image: nor build:`,
      "add image: or build:",
    );
  }
  for (const k of ["command", "entrypoint"] as const) {
    const e = get(k);
    if (!e) continue;
    const v = readCommand(ctx, e.value, at(k), k);
    if (v !== undefined) s[k] = v;
  }
  const envFile = get("env_file");
  const fromFiles = envFile ? readEnvFiles(ctx, envFile.value, at("env_file")) : {};
  const env = get("environment");
  // Compose: environment: wins over env_file.
  const written = env ? readEnvironment(ctx, env.value, at("environment")) : {};
  for (const [k, v] of Object.entries(written)) setKey(fromFiles, k, v);
  s.environment = fromFiles;
  const vols = get("volumes");
  if (vols) s.volumes = readMounts({ ctx, declared: declared.volumes }, vols.value, at("volumes"));
  const deps = get("depends_on");
  if (deps) {
    const r = readDependsOn(ctx, deps.value, at("depends_on"));
    s.dependsOn = r.deps;
    dependencyRefs = r.refs;
  }
  const hc = get("healthcheck");
  if (hc) {
    const h = readHealthcheck(ctx, hc.value, at("healthcheck"));
    if (h) s.healthcheck = h;
  }
  const deploy = get("deploy");
  let explicitOrder = false;
  if (deploy) {
    const d = readDeploy(ctx, deploy.value, at("deploy"));
    s.resources = d.resources;
    if (d.updateOrder) {
      s.updateOrder = d.updateOrder;
      explicitOrder = true;
    }
    if (d.replicas) s.replicas = d.replicas.value;
    if (d.updateParallelism !== undefined) s.updateParallelism = d.updateParallelism;
  }
  const scale = get("scale");
  if (scale) {
    const n = readReplicas(ctx, scale.value, at("scale"), "scale");
    // Compose refuses two different counts.
    if (n !== undefined && s.replicas !== undefined && n !== s.replicas)
      ctx.problems.error(
        scale.value.pos,
        at("scale"),
        `scale (${n}) and deploy.replicas (${s.replicas}) differ`,
        "keep one of them (deploy.replicas is the current spelling)",
      );
    else if (n !== undefined) s.replicas = n;
  }
  for (const [key, field] of [
    ["post_start", "postStart"],
    ["pre_stop", "preStop"],
  ] as const) {
    const e = get(key);
    if (!e) continue;
    const hooks = readHooks(ctx, e.value, at(key));
    if (hooks && hooks.length > 0) s[field] = hooks;
  }
  const links = get("links") ? readLinks(ctx, get("links")?.value as YNode, at("links")) : [];
  // Two containers must never write the same volume at once (a database would corrupt it).
  if (!explicitOrder && s.volumes.some((v) => !v.readOnly)) s.updateOrder = "stop-first";
  readRuntime(ctx, map, path, s, { platform: ctx.platform });
  for (const kind of ["secret", "config"] as const) {
    const e = get(`${kind}s`);
    if (!e) continue;
    const mounts = readFileMounts(ctx, e.value, at(`${kind}s`), kind, declared[`${kind}s`] ?? new Set());
    if (mounts.length > 0) s[`${kind}s`] = mounts;
  }
  const restart = get("restart");
  if (restart) {
    const v = restart.value.kind === "scalar" ? restart.value.value : undefined;
    if (typeof v === "string" && /^(no|always|unless-stopped|on-failure(:[0-9]{1,6})?)$/.test(v))
      s.restart = v;
    else {
      ctx.problems.error(
        restart.value.pos,
        at("restart"),
        `restart must be "no", always, unless-stopped, on-failure or on-failure:N`,
        v === false ? 'quote it: restart: "no"' : undefined,
      );
    }
  }
  const expose = get("expose");
  if (expose) s.expose = readExpose(ctx, expose.value, at("expose"));
  const ports = get("ports");
  if (ports) routeHints = readPorts(ctx, ports.value, at("ports"));
  const sgp = get("stop_grace_period");
  if (sgp) {
    const ms = readDuration(ctx, sgp.value, at("stop_grace_period"), "stop_grace_period");
    if (ms !== undefined) s.stopGracePeriodMs = ms;
  }
  const sig = get("stop_signal");
  if (sig) {
    const v = asText(ctx, sig.value, at("stop_signal"), "stop_signal");
    if (v !== undefined) {
      if (/^(SIG)?[A-Z][A-Z0-9+-]*$/.test(v) || /^[0-9]{1,2}$/.test(v)) s.stopSignal = v;
      else
        ctx.problems.error(
          sig.value.pos,
          at("stop_signal"),
          `${JSON.stringify(v)} is not a signal`,
          "e.g. SIGTERM or SIGQUIT",
        );
    }
  }
  const labelFile = get("label_file");
  const labels = get("labels");
  // Compose: labels: wins over label_file.
  const fromLabelFiles = labelFile ? readLabelFiles(ctx, labelFile.value, at("label_file")) : {};
  for (const k of Object.keys(fromLabelFiles)) {
    if (!k.toLowerCase().startsWith("berth.")) continue;
    ctx.problems.error(
      labelFile?.value.pos ?? map.pos,
      at("label_file"),
      `label ${k} from a label file uses the reserved berth. prefix`,
      "rename the label in the file",
    );
    delete fromLabelFiles[k];
  }
  const writtenLabels = labels ? readLabels(ctx, labels.value, at("labels")) : {};
  for (const [k, v] of Object.entries(writtenLabels)) setKey(fromLabelFiles, k, v);
  s.labels = fromLabelFiles;
  const nets = get("networks");
  if (nets) {
    const n = readServiceNetworks(ctx, nets.value, at("networks"), declared.networks);
    s.networks = Object.keys(n).length > 0 ? n : { default: { aliases: [] } };
  }
  const health = get("x-berth-health");
  if (health) {
    const h = readHttpHealth(ctx, health.value, at("x-berth-health"));
    if (h) s.health = h;
  }
  return { service: s, dependencyRefs, routeHints, links };
}

/** `links: [SERVICE, SERVICE:ALIAS]`. */
function readLinks(ctx: Ctx, node: YNode, path: Path): LinkRef[] {
  const list = asTextList(ctx, node, path, "links");
  if (!list || node.kind !== "seq") return [];
  const out: LinkRef[] = [];
  list.forEach((text, i) => {
    const item = node.items[i] as YNode;
    const [name = "", alias = name, ...rest] = text.split(":");
    if (
      rest.length > 0 ||
      !/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name) ||
      !/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(alias)
    ) {
      ctx.problems.error(
        item.pos,
        [...path, i],
        `${JSON.stringify(text)} is not a link`,
        "write SERVICE or SERVICE:ALIAS",
      );
      return;
    }
    out.push({ name, alias, pos: item.pos, path: [...path, i] });
  });
  return out;
}
