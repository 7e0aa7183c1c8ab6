// Top-level x-berth-routes: a list of { service, port, host, path? }: public HTTP traffic for
// host (and path prefix) goes to the service's container port.
import { HOSTNAME_PATTERN } from "../manifest/patterns";
import type { Route } from "../manifest/schema";
import type { Path } from "./problem";
import { asInt, asMap, asText, type Ctx, checkKeys } from "./read";
import { entry, type YNode } from "./tree";

export function readRoutes(
  ctx: Ctx,
  node: YNode,
  path: Path,
  services: readonly string[],
  inactive: ReadonlyMap<string, readonly string[]> = new Map(),
): Route[] {
  const out: Route[] = [];
  if (node.kind !== "seq") {
    ctx.problems.error(node.pos, path, "x-berth-routes must be a list of { service, port, host, path }");
    return out;
  }
  const seen = new Set<string>();
  node.items.forEach((it, i) => {
    const p = [...path, i];
    const map = asMap(ctx, it, p, "a route");
    if (!map) return;
    checkKeys(ctx, map, p, {
      accepted: ["service", "port", "host", "path"],
      what: "route field",
      extensions: false,
    });
    for (const k of ["service", "port", "host"]) {
      if (!entry(map, k)) ctx.problems.error(map.pos, p, `a route needs ${k}:`);
    }
    const se = entry(map, "service");
    const service = se ? asText(ctx, se.value, [...p, "service"], "service") : undefined;
    const off = service === undefined ? undefined : inactive.get(service);
    if (se && off) {
      ctx.problems.warn(
        se.value.pos,
        [...p, "service"],
        `the route to ${service} is left out: ${service} runs only with the profile${off.length > 1 ? "s" : ""} ${off.join(", ")}, not active here`,
      );
      return;
    }
    if (se && service !== undefined && !services.includes(service)) {
      ctx.problems.error(
        se.value.pos,
        [...p, "service"],
        `route to service ${service}, which is not defined`,
        services.length ? `services in this file: ${services.join(", ")}` : undefined,
      );
    }
    const po = entry(map, "port");
    const port = po ? asInt(ctx, po.value, [...p, "port"], "port", { min: 1, max: 65535 }) : undefined;
    const he = entry(map, "host");
    const host = he ? asText(ctx, he.value, [...p, "host"], "host") : undefined;
    const hostOk = host !== undefined && host.length <= 253 && HOSTNAME_PATTERN.test(host);
    if (he && host !== undefined && !hostOk) {
      ctx.problems.error(
        he.value.pos,
        [...p, "host"],
        `${JSON.stringify(host)} is not a host name`,
        "write a lowercase DNS name like app.example.com (no scheme, port or path)",
      );
    }
    const pe = entry(map, "path");
    const rpath = pe ? asText(ctx, pe.value, [...p, "path"], "path") : undefined;
    const pathOk = rpath === undefined || (rpath.startsWith("/") && !/\s/.test(rpath));
    if (pe && !pathOk)
      ctx.problems.error(pe.value.pos, [...p, "path"], `path ${JSON.stringify(rpath)} must start with /`);
    if (service === undefined || !services.includes(service) || port === undefined || !hostOk || !pathOk)
      return;
    if (pe && rpath === undefined) return;
    const key = `${host}${rpath ?? ""}`;
    if (seen.has(key)) {
      ctx.problems.error(map.pos, p, `${key} is routed twice`, "route each host and path once");
      return;
    }
    seen.add(key);
    const r: Route = { service, port, host };
    if (rpath !== undefined) r.path = rpath;
    out.push(r);
  });
  return out;
}
