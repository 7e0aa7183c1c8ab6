// services.*.depends_on (short list and long map form) and the service graph: unknown services,
// self-dependencies and cycles are refused (the cycle is named), and `order` is a stable
// topological order (dependencies first, ties in file order).
import type { Dependency } from "../manifest/schema";
import type { Path, Pos } from "./problem";
import { asBool, type Ctx, checkKeys, setKey } from "./read";
import { entry, type YNode } from "./tree";

const CONDITIONS = ["service_started", "service_healthy", "service_completed_successfully"] as const;

/** Where each dependency was written, for problems found later on the graph. */
export interface DependencyRef {
  name: string;
  pos: Pos;
  path: Path;
}

export function readDependsOn(
  ctx: Ctx,
  node: YNode,
  path: Path,
): { deps: Record<string, Dependency>; refs: DependencyRef[] } {
  const deps: Record<string, Dependency> = {};
  const refs: DependencyRef[] = [];
  if (node.kind === "seq") {
    node.items.forEach((it, i) => {
      const p = [...path, i];
      if (it.kind !== "scalar" || typeof it.value !== "string" || it.value === "") {
        ctx.problems.error(it.pos, p, "depends_on entries must be service names");
        return;
      }
      if (Object.hasOwn(deps, it.value)) {
        ctx.problems.error(it.pos, p, `${it.value} is listed twice`, "list each dependency once");
        return;
      }
      setKey(deps, it.value, { condition: "service_started", restart: false, required: true });
      refs.push({ name: it.value, pos: it.pos, path: p });
    });
    return { deps, refs };
  }
  if (node.kind === "map") {
    for (const e of node.entries) {
      const p = [...path, e.key];
      const dep: Dependency = { condition: "service_started", restart: false, required: true };
      refs.push({ name: e.key, pos: e.keyPos, path: p });
      setKey(deps, e.key, dep);
      const v = e.value;
      if (v.kind === "scalar" && v.value === null) continue;
      if (v.kind !== "map") {
        ctx.problems.error(v.pos, p, "a dependency must be a mapping (condition:, restart:, required:)");
        continue;
      }
      checkKeys(ctx, v, p, { accepted: ["condition", "restart", "required"], what: "depends_on field" });
      const c = entry(v, "condition");
      if (c) {
        const cv = c.value.kind === "scalar" ? c.value.value : undefined;
        if (CONDITIONS.includes(cv as (typeof CONDITIONS)[number]))
          dep.condition = cv as Dependency["condition"];
        else
          ctx.problems.error(
            c.value.pos,
            [...p, "condition"],
            `condition must be one of ${CONDITIONS.join(", ")}`,
          );
      }
      for (const key of ["restart", "required"] as const) {
        const x = entry(v, key);
        if (!x) continue;
        const b = asBool(ctx, x.value, [...p, key], key);
        if (b !== undefined) dep[key] = b;
      }
    }
    return { deps, refs };
  }
  if (!(node.kind === "scalar" && node.value === null)) {
    ctx.problems.error(node.pos, path, "depends_on must be a list of services or a mapping");
  }
  return { deps, refs };
}

/**
 * Checks the graph and returns the start order. `services` is in file order; `refs` says where
 * each service's dependencies were written.
 */
export function orderServices(
  ctx: Ctx,
  services: readonly string[],
  refs: ReadonlyMap<string, readonly DependencyRef[]>,
): string[] {
  const known = new Set(services);
  const edges = new Map<string, string[]>();
  for (const s of services) {
    const ok: string[] = [];
    for (const r of refs.get(s) ?? []) {
      if (r.name === s) {
        ctx.problems.error(
          r.pos,
          r.path,
          `service ${s} depends on itself`,
          "remove it from its own depends_on",
        );
      } else if (!known.has(r.name)) {
        const hint = services.length ? `services in this file: ${services.join(", ")}` : undefined;
        ctx.problems.error(r.pos, r.path, `service ${s} depends on ${r.name}, which is not defined`, hint);
      } else ok.push(r.name);
    }
    edges.set(s, ok);
  }
  // Cycles: depth-first search, each cycle reported once at the edge that closes it.
  const state = new Map<string, "visiting" | "done">();
  const stack: string[] = [];
  const reported = new Set<string>();
  const visit = (s: string): void => {
    state.set(s, "visiting");
    stack.push(s);
    for (const d of edges.get(s) ?? []) {
      const st = state.get(d);
      if (st === "visiting") {
        const cycle = [...stack.slice(stack.indexOf(d)), d];
        const key = [...cycle.slice(0, -1)].sort().join(",");
        if (!reported.has(key)) {
          reported.add(key);
          const ref = (refs.get(s) ?? []).find((r) => r.name === d);
          ctx.problems.error(
            ref?.pos ?? { line: 1, col: 1 },
            ref?.path ?? ["services", s],
            `dependency cycle: ${cycle.join(" -> ")}`,
            "remove one of these depends_on entries",
          );
        }
      } else if (st === undefined) visit(d);
    }
    stack.pop();
    state.set(s, "done");
  };
  for (const s of services) if (!state.has(s)) visit(s);

  // Stable topological order (Kahn): among ready services, the earliest in the file goes first.
  const remaining = new Map(services.map((s) => [s, new Set(edges.get(s))]));
  const order: string[] = [];
  while (remaining.size > 0) {
    const next = services.find((s) => remaining.get(s)?.size === 0);
    if (next === undefined) {
      // A cycle (already reported): append the rest in file order so `order` stays complete.
      for (const s of services) if (remaining.has(s)) order.push(s);
      break;
    }
    order.push(next);
    remaining.delete(next);
    for (const deps of remaining.values()) deps.delete(next);
  }
  return order;
}
