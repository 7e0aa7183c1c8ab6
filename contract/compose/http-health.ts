// services.*.x-berth-health: the HTTP probe the agent runs against a new container before it
// switches traffic: { path, port, status (default 200) }.
import type { HttpHealth } from "../manifest/schema";
import type { Path } from "./problem";
import { asInt, asMap, asText, type Ctx, checkKeys } from "./read";
import { entry, type YNode } from "./tree";

export function readHttpHealth(ctx: Ctx, node: YNode, path: Path): HttpHealth | undefined {
  const map = asMap(ctx, node, path, "x-berth-health");
  if (!map) return undefined;
  checkKeys(ctx, map, path, {
    accepted: ["path", "port", "status"],
    what: "x-berth-health field",
    extensions: false,
  });
  const pe = entry(map, "path");
  const po = entry(map, "port");
  if (!pe) ctx.problems.error(map.pos, path, "x-berth-health needs path:", "e.g. path: /healthz");
  if (!po)
    ctx.problems.error(map.pos, path, "x-berth-health needs port: (the container port)", "e.g. port: 8080");
  const p = pe ? asText(ctx, pe.value, [...path, "path"], "path") : undefined;
  if (pe && p !== undefined && !p.startsWith("/")) {
    ctx.problems.error(pe.value.pos, [...path, "path"], `path ${JSON.stringify(p)} must start with /`);
  }
  const port = po ? asInt(ctx, po.value, [...path, "port"], "port", { min: 1, max: 65535 }) : undefined;
  const st = entry(map, "status");
  const status = st ? asInt(ctx, st.value, [...path, "status"], "status", { min: 100, max: 599 }) : 200;
  if (p === undefined || !p.startsWith("/") || port === undefined || status === undefined) return undefined;
  return { path: p, port, status };
}
