// The manager's re-check of a Swarm stack file before `docker stack deploy`, as the single node
// re-checks its Compose file (contract/compose/isolation.ts): a signed release is trusted to be
// the program's, not to be harmless. Allow-list: only keys the Swarm renderer writes, with the
// shapes it gives them. In particular:
// - images pinned by digest; no published ports but the environment's proxy's one host port
//   (proxy.ts); no host network, privileges, devices or
//   capabilities added (the stack format has some of these: cap_add, sysctls, network host);
// - mounts only of the stack's own volumes and tmpfs, never a bind of a node path;
// - networks only the environment's own overlays (`berth_<env>…`), never an external one;
// - secrets and configs only under the environment's names (`berth_<env>_…`): a stack could
//   otherwise mount another environment's swarm secret by naming it.
import { networkName, PINNED_IMAGE as PINNED, volumeName } from "../render/node-compose";
import { PROXY_SERVICE, PROXY_TARGET_PORT } from "./proxy";

const TOP = new Set(["version", "services", "networks", "volumes", "secrets", "configs", "x-berth"]);
const SERVICE = new Set([
  "image",
  "entrypoint",
  "command",
  "environment",
  "labels",
  "healthcheck",
  "deploy",
  "logging",
  "volumes",
  "secrets",
  "configs",
  "networks",
  "stop_grace_period",
  "stop_signal",
  "init",
  "user",
  "working_dir",
  "read_only",
  "ulimits",
  "cap_drop",
  "stdin_open",
  "tty",
  "hostname",
  "extra_hosts",
  "dns",
  "dns_search",
  "dns_opt",
  "group_add",
]);
const DEPLOY = new Set([
  "mode",
  "replicas",
  "endpoint_mode",
  "labels",
  "update_config",
  "rollback_config",
  "restart_policy",
  "resources",
  "placement",
]);
const LOG_DRIVERS = new Set(["json-file", "local"]);

const isMap = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Problems of a parsed stack file for environment `env`; empty when the node may deploy it. */
export function checkSwarmStack(doc: unknown, env: string): string[] {
  const p: string[] = [];
  if (!isMap(doc)) return ["the stack file is not a map"];
  for (const k of Object.keys(doc)) if (!TOP.has(k)) p.push(`${k}: not a key berth writes`);
  const objectPrefix = `berth_${env}_`;
  const declared = (kind: "volumes" | "networks" | "secrets" | "configs") => {
    const v = doc[kind];
    if (v === undefined) return new Set<string>();
    if (!isMap(v)) {
      p.push(`${kind}: not a map`);
      return new Set<string>();
    }
    for (const [name, spec] of Object.entries(v)) {
      if (!isMap(spec)) {
        p.push(`${kind}.${name}: not a map`);
        continue;
      }
      const real = spec.name;
      if (kind === "volumes") {
        if (real !== volumeName(env, name)) p.push(`volumes.${name}: must be named ${volumeName(env, name)}`);
        for (const k of Object.keys(spec))
          if (k !== "name" && k !== "labels")
            p.push(`volumes.${name}.${k}: not allowed (a driver or its options could bind a node path)`);
      } else if (kind === "networks") {
        if (real !== networkName(env, name))
          p.push(`networks.${name}: must be named ${networkName(env, name)}`);
        if (spec.driver !== "overlay") p.push(`networks.${name}.driver: must be overlay`);
        if (spec.external !== undefined)
          p.push(`networks.${name}.external: not allowed (only the environment's own networks)`);
        if (spec.attachable !== false) p.push(`networks.${name}.attachable: must be false`);
        for (const k of Object.keys(spec))
          if (!["name", "driver", "attachable", "internal", "driver_opts", "labels"].includes(k))
            p.push(`networks.${name}.${k}: not allowed`);
        if (
          spec.driver_opts !== undefined &&
          !(isMap(spec.driver_opts) && Object.keys(spec.driver_opts).every((o) => o === "encrypted"))
        )
          p.push(`networks.${name}.driver_opts: only encrypted`);
      } else {
        if (typeof real !== "string" || !real.startsWith(objectPrefix))
          p.push(`${kind}.${name}: must be named ${objectPrefix}… (the environment's own ${kind})`);
        if (spec.external !== true) p.push(`${kind}.${name}: must be external (created by the agent)`);
        for (const k of Object.keys(spec))
          if (k !== "name" && k !== "external") p.push(`${kind}.${name}.${k}: not allowed`);
      }
    }
    return new Set(Object.keys(v));
  };
  const volumes = declared("volumes");
  const networks = declared("networks");
  const secrets = declared("secrets");
  const configs = declared("configs");
  if (!isMap(doc.services)) return [...p, "services: not a map"];
  for (const [name, s] of Object.entries(doc.services)) {
    const at = `services.${name}`;
    if (!isMap(s)) {
      p.push(`${at}: not a map`);
      continue;
    }
    // The environment's proxy (proxy.ts): global, one host port to its own listener, nothing mounted but its config.
    const proxy = name === PROXY_SERVICE;
    for (const k of Object.keys(s))
      if (!SERVICE.has(k) && !(proxy && k === "ports")) p.push(`${at}.${k}: not a key berth writes`);
    if (proxy) p.push(...proxyProblems(at, s));
    if (typeof s.image !== "string" || !PINNED.test(s.image)) p.push(`${at}.image: must be pinned by digest`);
    if (isMap(s.deploy)) {
      for (const k of Object.keys(s.deploy)) if (!DEPLOY.has(k)) p.push(`${at}.deploy.${k}: not allowed`);
      if (s.deploy.mode !== (proxy ? "global" : "replicated"))
        p.push(`${at}.deploy.mode: must be ${proxy ? "global" : "replicated"}`);
      if (s.deploy.endpoint_mode !== "dnsrr")
        p.push(`${at}.deploy.endpoint_mode: must be dnsrr (no published ports)`);
      const placement = s.deploy.placement;
      if (placement !== undefined) {
        const ok =
          isMap(placement) &&
          Object.keys(placement).every((k) => k === "constraints") &&
          Array.isArray(placement.constraints) &&
          placement.constraints.every(
            (c) => typeof c === "string" && /^node\.labels\.berth\.node == [a-z0-9][a-z0-9-]{0,62}$/.test(c),
          );
        if (!ok) p.push(`${at}.deploy.placement: only node.labels.berth.node == <node id>`);
      }
    } else p.push(`${at}.deploy: missing`);
    if (isMap(s.logging) && !LOG_DRIVERS.has(String(s.logging.driver)))
      p.push(`${at}.logging.driver: only json-file or local (logs stay on the node)`);
    for (const [i, m] of (Array.isArray(s.volumes)
      ? s.volumes
      : s.volumes === undefined
        ? []
        : [null]
    ).entries()) {
      if (!isMap(m)) {
        p.push(`${at}.volumes[${i}]: not a mount`);
        continue;
      }
      if (m.type === "tmpfs") continue;
      if (m.type !== "volume")
        p.push(
          `${at}.volumes[${i}]: only the stack's volumes and tmpfs (a ${String(m.type)} mount could reach the node)`,
        );
      else if (typeof m.source !== "string" || !volumes.has(m.source))
        p.push(`${at}.volumes[${i}]: not a volume of the stack`);
    }
    for (const [kind, known] of [
      ["secrets", secrets],
      ["configs", configs],
    ] as const) {
      const list = s[kind];
      if (list === undefined) continue;
      if (!Array.isArray(list)) {
        p.push(`${at}.${kind}: not a list`);
        continue;
      }
      list.forEach((f, i) => {
        if (!isMap(f) || typeof f.source !== "string" || !known.has(f.source))
          p.push(`${at}.${kind}[${i}]: not one of the stack's ${kind}`);
      });
    }
    if (s.networks !== undefined) {
      if (!isMap(s.networks)) p.push(`${at}.networks: not a map`);
      else
        for (const n of Object.keys(s.networks))
          if (!networks.has(n)) p.push(`${at}.networks.${n}: not a network of the stack`);
    }
  }
  return p;
}

/** The proxy's own limits: one published port, host mode, to its listener; no volumes or secrets. */
function proxyProblems(at: string, s: Record<string, unknown>): string[] {
  const p: string[] = [];
  const ports = s.ports;
  const ok =
    Array.isArray(ports) &&
    ports.length === 1 &&
    isMap(ports[0]) &&
    Object.keys(ports[0]).every((k) => ["target", "published", "protocol", "mode"].includes(k)) &&
    ports[0].target === PROXY_TARGET_PORT &&
    Number.isInteger(ports[0].published) &&
    (ports[0].published as number) >= 1024 &&
    (ports[0].published as number) <= 65535 &&
    ports[0].protocol === "tcp" &&
    ports[0].mode === "host";
  if (!ok)
    p.push(
      `${at}.ports: only one, {target: ${PROXY_TARGET_PORT}, published: 1024-65535, protocol: tcp, mode: host}`,
    );
  if (s.volumes !== undefined) p.push(`${at}.volumes: the proxy mounts nothing`);
  if (s.secrets !== undefined) p.push(`${at}.secrets: the proxy gets no secret`);
  return p;
}
