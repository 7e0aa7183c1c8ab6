// The isolation rules, in the one place both sides read them: the loader refuses these fields in
// a user's Compose file (with SERVICE_REJECTED's messages), and the node agent re-runs
// `checkNodeCompose` on the rendered file of a verified release before Compose sees it, so a
// release signed with a leaked key still cannot ask for more than berth renders.
//
// The rendered file is berth's own JSON, so the node's check is an allow-list: every key a
// service may carry is one the renderer writes, with the shape the renderer gives it.
import { MAX_REPLICAS } from "../manifest/patterns";
import { nodeFileSource, PINNED_IMAGE as PINNED } from "../render/node-compose";
import { SERVICE_REJECTED } from "./rejections";
import { RENDERED_RUNTIME_FIELDS } from "./runtime";

export { SERVICE_REJECTED } from "./rejections";

/** Every service key the renderer writes (contract/render/node-compose.ts). */
export const RENDERED_SERVICE_KEYS: readonly string[] = [
  "image",
  "entrypoint",
  "command",
  "environment",
  "labels",
  "restart",
  "healthcheck",
  "depends_on",
  "deploy",
  "expose",
  "ports",
  "volumes",
  "networks",
  "stop_grace_period",
  "stop_signal",
  ...RENDERED_RUNTIME_FIELDS,
];

const TOP_LEVEL_KEYS = ["services", "networks", "volumes", "x-berth"];
/** Only the node's loopback, on a port Docker picks: HAProxy is the one way in. */
const LOOPBACK_PORT = /^127\.0\.0\.1::[0-9]{1,5}$/;
const LOG_DRIVERS = ["json-file", "local"];

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The Docker names of an environment's networks and volumes start with this. */
function ownPrefix(env: string): string {
  return `berth_${env}`;
}

function ownName(name: unknown, env: string): boolean {
  return typeof name === "string" && (name === ownPrefix(env) || name.startsWith(`${ownPrefix(env)}_`));
}

function checkService(name: string, s: unknown, env: string, doc: Obj, out: string[]): void {
  const at = (k: string) => `services.${name}.${k}`;
  if (!isObj(s)) {
    out.push(`services.${name}: not a mapping`);
    return;
  }
  for (const k of Object.keys(s)) {
    if (RENDERED_SERVICE_KEYS.includes(k)) continue;
    const r = Object.hasOwn(SERVICE_REJECTED, k) ? SERVICE_REJECTED[k] : undefined;
    const msg = r
      ? typeof r === "function"
        ? r({ key: k, keyPos: { line: 1, col: 1 }, value: scalarNode(s[k]) }).message
        : r.message
      : `${k} is not a field berth renders`;
    out.push(`${at(k)}: ${msg}`);
  }
  if (typeof s.image !== "string" || !PINNED.test(s.image)) out.push(`${at("image")}: not pinned by digest`);
  const ports = s.ports ?? [];
  if (!Array.isArray(ports) || ports.some((p) => typeof p !== "string" || !LOOPBACK_PORT.test(p))) {
    out.push(`${at("ports")}: only 127.0.0.1::PORT may be published (HAProxy is the way in)`);
  }
  const volumes = s.volumes ?? [];
  const declared = isObj(doc.volumes) ? doc.volumes : {};
  if (!Array.isArray(volumes)) out.push(`${at("volumes")}: not a list`);
  else {
    volumes.forEach((v, i) => {
      if (isAgentFile(v, name)) return;
      if (
        !isObj(v) ||
        v.type !== "volume" ||
        typeof v.source !== "string" ||
        !Object.hasOwn(declared, v.source)
      ) {
        out.push(
          `${at("volumes")}[${i}]: only the environment's own named volumes may be mounted (no bind mounts)`,
        );
      }
    });
  }
  const nets = s.networks ?? {};
  const declaredNets = isObj(doc.networks) ? doc.networks : {};
  if (!isObj(nets) || Object.keys(nets).some((n) => !Object.hasOwn(declaredNets, n))) {
    out.push(`${at("networks")}: only the environment's own networks may be joined`);
  }
  if (s.logging !== undefined && (!isObj(s.logging) || !LOG_DRIVERS.includes(String(s.logging.driver)))) {
    out.push(`${at("logging")}: logs stay on the node (json-file or local)`);
  }
  const hosts = s.extra_hosts ?? [];
  if (!Array.isArray(hosts) || hosts.some((h) => typeof h !== "string" || /host-gateway/.test(h))) {
    out.push(`${at("extra_hosts")}: HOST=IP entries only, never host-gateway`);
  }
  const labels = isObj(s.labels) ? s.labels : {};
  if (labels["berth.environment"] !== env) out.push(`${at("labels")}: berth.environment is not ${env}`);
  if (s.deploy !== undefined) {
    if (!isObj(s.deploy) || Object.keys(s.deploy).some((k) => k !== "resources" && k !== "replicas"))
      out.push(`${at("deploy")}: only resources and replicas may be set`);
    else if (
      s.deploy.replicas !== undefined &&
      !(
        Number.isInteger(s.deploy.replicas) &&
        (s.deploy.replicas as number) >= 1 &&
        (s.deploy.replicas as number) <= MAX_REPLICAS
      )
    )
      out.push(`${at("deploy")}.replicas: must be a whole number from 1 to ${MAX_REPLICAS}`);
  }
}

/**
 * A secret or config file: bound read-only from the agent's own folder (a tmpfs), at the path
 * the renderer writes, so a release can never name another host path.
 */
function isAgentFile(v: unknown, service: string): boolean {
  if (!isObj(v) || v.type !== "bind" || v.read_only !== true || typeof v.source !== "string") return false;
  const m = /^(secret|config)s\/([^/]+)\/([A-Za-z0-9][A-Za-z0-9_.-]*)$/.exec(
    v.source.startsWith(FILES_PREFIX) ? v.source.slice(FILES_PREFIX.length) : "",
  );
  return (
    m !== null &&
    m[2] === service &&
    v.source === nodeFileSource(m[1] as "secret" | "config", service, m[3] as string)
  );
}

const FILES_PREFIX = nodeFileSource("secret", "s", "n").replace(/secrets\/s\/n$/, "");

function scalarNode(v: unknown) {
  const value = typeof v === "string" || typeof v === "number" || typeof v === "boolean" ? v : null;
  return {
    kind: "scalar" as const,
    pos: { line: 1, col: 1 },
    value,
    source: value === null ? "" : String(value),
  };
}

/**
 * Checks a rendered node Compose document (already parsed) against the isolation rules for
 * environment `env`. Returns every problem found (`PATH: message`); empty when it may run.
 */
export function checkNodeCompose(doc: unknown, env: string): string[] {
  const out: string[] = [];
  if (!isObj(doc)) return ["(top level): not a mapping"];
  for (const k of Object.keys(doc)) {
    if (!TOP_LEVEL_KEYS.includes(k)) out.push(`${k}: not a top-level key berth renders`);
  }
  for (const [kind, want] of [
    ["networks", "network"],
    ["volumes", "volume"],
  ] as const) {
    const m = doc[kind] ?? {};
    if (!isObj(m)) {
      out.push(`${kind}: not a mapping`);
      continue;
    }
    for (const [n, v] of Object.entries(m)) {
      if (
        !isObj(v) ||
        v.external !== true ||
        !ownName(v.name, env) ||
        Object.keys(v).some((x) => x !== "name" && x !== "external")
      ) {
        out.push(
          `${kind}.${n}: only the environment's own ${want}s (${ownPrefix(env)}…, external) may be used`,
        );
      }
    }
  }
  const services = doc.services;
  if (!isObj(services)) out.push("services: not a mapping");
  else for (const [name, s] of Object.entries(services)) checkService(name, s, env, doc, out);
  return out;
}
