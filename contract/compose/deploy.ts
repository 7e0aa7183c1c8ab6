// services.*.deploy: resources (limits: cpus, memory, pids; reservations: cpus, memory),
// replicas, and update_config's order and parallelism. The rest of Swarm's fields (placement,
// mode, ...) are refused: a node runs what its release says, with no scheduler.
import { MAX_REPLICAS } from "../manifest/patterns";
import type { Resources } from "../manifest/schema";
import type { Path, Pos } from "./problem";
import { asInt, asMap, type Ctx, checkKeys } from "./read";
import { entry, type YMap, type YNode } from "./tree";
import { parseBytes } from "./units";

const SWARM = "berth runs a service's containers on the one node its environment is on";

export interface Deploy {
  resources: Resources;
  updateOrder?: "start-first" | "stop-first";
  replicas?: { value: number; pos: Pos };
  updateParallelism?: number;
}

/** `deploy.replicas` or `scale`: 1 to MAX_REPLICAS containers. */
export function readReplicas(ctx: Ctx, node: YNode, path: Path, what: string): number | undefined {
  const v = node.kind === "scalar" ? node.value : undefined;
  const n =
    typeof v === "number" ? v : typeof v === "string" && /^[0-9]+$/.test(v.trim()) ? Number(v) : undefined;
  if (n === 0) {
    ctx.problems.error(
      node.pos,
      path,
      `${what}: 0 runs no container of the service`,
      "remove the service, or give it a profile that is not active (profiles:)",
    );
    return undefined;
  }
  if (n === undefined || !Number.isInteger(n) || n < 1 || n > MAX_REPLICAS) {
    ctx.problems.error(
      node.pos,
      path,
      `${what} must be a whole number from 1 to ${MAX_REPLICAS}${n !== undefined ? `, not ${n}` : ""}: during an upgrade the old and the new containers of a service run side by side on its node`,
      `write ${what}: N with N at most ${MAX_REPLICAS}, or split the service`,
    );
    return undefined;
  }
  return n;
}

function cpus(ctx: Ctx, node: YNode, path: Path): number | undefined {
  const v =
    node.kind === "scalar" && typeof node.value === "number"
      ? node.value
      : node.kind === "scalar" &&
          typeof node.value === "string" &&
          /^[0-9]+(\.[0-9]+)?$/.test(node.value.trim())
        ? Number(node.value)
        : undefined;
  if (v === undefined || !Number.isFinite(v) || v <= 0 || v > 1024) {
    ctx.problems.error(node.pos, path, "cpus must be a positive number of CPUs, e.g. 0.5 or 2");
    return undefined;
  }
  return v;
}

function memory(ctx: Ctx, node: YNode, path: Path): number | undefined {
  const raw =
    node.kind === "scalar" && (typeof node.value === "string" || typeof node.value === "number")
      ? node.value
      : undefined;
  const r = raw === undefined ? undefined : parseBytes(raw);
  if (!r?.ok) {
    ctx.problems.error(node.pos, path, `memory must be a size like 512m or 1g${r ? `: ${r.message}` : ""}`);
    return undefined;
  }
  return r.bytes;
}

function limits(ctx: Ctx, map: YMap, path: Path, withPids: boolean): Resources["limits"] {
  checkKeys(ctx, map, path, {
    accepted: withPids ? ["cpus", "memory", "pids"] : ["cpus", "memory"],
    rejected: {
      devices: { message: "device reservations (GPUs) are not supported", hint: "remove devices:" },
      generic_resources: {
        message: "generic_resources are not supported",
        hint: "remove generic_resources:",
      },
    },
    known: ["pids"],
    what: "resource",
  });
  const out: NonNullable<Resources["limits"]> = {};
  const c = entry(map, "cpus");
  if (c) {
    const v = cpus(ctx, c.value, [...path, "cpus"]);
    if (v !== undefined) out.cpus = v;
  }
  const m = entry(map, "memory");
  if (m) {
    const v = memory(ctx, m.value, [...path, "memory"]);
    if (v !== undefined) out.memory = v;
  }
  const p = withPids ? entry(map, "pids") : undefined;
  if (p) {
    const v = asInt(ctx, p.value, [...path, "pids"], "pids", { min: 1, max: 4_194_304 });
    if (v !== undefined) out.pids = v;
  }
  return out;
}

export function readDeploy(ctx: Ctx, node: YNode, path: Path): Deploy {
  const out: Deploy = { resources: {} };
  const map = asMap(ctx, node, path, "deploy");
  if (!map) return out;
  checkKeys(ctx, map, path, {
    accepted: ["resources", "update_config", "replicas"],
    rejected: {
      mode: { message: `deploy.mode is not supported: ${SWARM}`, hint: "remove mode:" },
      placement: { message: `placement is not supported: ${SWARM}`, hint: "remove placement:" },
      restart_policy: {
        message: "deploy.restart_policy is not supported",
        hint: "use the service's restart: field",
      },
      rollback_config: {
        message: "rollback_config is not supported: the node agent rolls back a failed release itself",
        hint: "remove rollback_config:",
      },
      labels: { message: "deploy.labels is not supported", hint: "use the service's labels: field" },
      endpoint_mode: { message: `endpoint_mode is not supported: ${SWARM}`, hint: "remove endpoint_mode:" },
    },
    what: "deploy field",
  });
  const rep = entry(map, "replicas");
  if (rep) {
    const n = readReplicas(ctx, rep.value, [...path, "replicas"], "replicas");
    if (n !== undefined) out.replicas = { value: n, pos: rep.value.pos };
  }
  const r = entry(map, "resources");
  if (r) {
    const rp = [...path, "resources"];
    const rm = asMap(ctx, r.value, rp, "resources");
    if (rm) {
      checkKeys(ctx, rm, rp, { accepted: ["limits", "reservations"], what: "resources field" });
      for (const [key, withPids] of [
        ["limits", true],
        ["reservations", false],
      ] as const) {
        const e = entry(rm, key);
        if (!e) continue;
        const m = asMap(ctx, e.value, [...rp, key], key);
        if (m) out.resources[key] = limits(ctx, m, [...rp, key], withPids);
      }
    }
  }
  const u = entry(map, "update_config");
  if (u) {
    const up = [...path, "update_config"];
    const um = asMap(ctx, u.value, up, "update_config");
    if (um) {
      const single =
        "the agent replaces a release's containers once they are healthy, and rolls the whole release back when one is not";
      checkKeys(ctx, um, up, {
        accepted: ["order", "parallelism"],
        known: ["delay", "failure_action", "monitor", "max_failure_ratio"],
        rejected: Object.fromEntries(
          ["delay", "failure_action", "monitor", "max_failure_ratio"].map((k) => [
            k,
            { message: `update_config.${k} is not supported: ${single}`, hint: `remove ${k}:` },
          ]),
        ),
        what: "update_config field",
      });
      const par = entry(um, "parallelism");
      if (par) {
        const v = asInt(ctx, par.value, [...up, "parallelism"], "parallelism", { min: 0, max: 1_000_000 });
        if (v !== undefined) out.updateParallelism = v;
      }
      const o = entry(um, "order");
      if (o) {
        const v = o.value.kind === "scalar" ? o.value.value : undefined;
        if (v === "start-first" || v === "stop-first") out.updateOrder = v;
        else ctx.problems.error(o.value.pos, [...up, "order"], "order must be start-first or stop-first");
      }
    }
  }
  return out;
}
