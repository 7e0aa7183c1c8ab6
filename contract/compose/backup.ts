// `x-berth-backup` under a top-level volume: `false` (never back this volume up), or a map of
// schedule, retention and the hooks that make the copy consistent:
//
//   volumes:
//     db:
//       x-berth-backup:
//         schedule: "0 */6 * * *"            # cron, UTC; default: the environment's
//         retention: { last: 4, daily: 7 }   # default: the environment's
//         before: { service: db, command: sqlite3 /data/app.db ".backup /data/app.db.bak" }
//         after: { service: db, command: rm -f /data/app.db.bak }
//         stop: [worker]                     # stopped for the copy, started again after it
//
// Read after the services, so hooks can be checked against the services of the file.

import { scheduleProblem } from "../backup/schedule";
import { retentionSchema, type VolumeBackup } from "../backup/schema";
import type { Volume } from "../manifest/schema";
import { readCommand } from "./command";
import type { Path } from "./problem";
import { asBool, asMap, asText, type Ctx, checkKeys } from "./read";
import { entry, toPlain, type YNode } from "./tree";

const RETENTION_KEYS = ["last", "hourly", "daily", "weekly", "monthly", "yearly"];

function readHook(
  ctx: Ctx,
  node: YNode,
  path: Path,
  services: readonly string[],
): { service: string; command: string[] } | undefined {
  const map = asMap(ctx, node, path, "a backup hook ({ service, command })");
  if (!map) return undefined;
  checkKeys(ctx, map, path, {
    accepted: ["service", "command"],
    what: "backup hook field",
    extensions: false,
  });
  const se = entry(map, "service");
  const ce = entry(map, "command");
  if (!se)
    ctx.problems.error(
      map.pos,
      path,
      "a backup hook needs service:",
      "name the service whose container runs the command",
    );
  if (!ce) ctx.problems.error(map.pos, path, "a backup hook needs command:");
  const service = se ? asText(ctx, se.value, [...path, "service"], "service") : undefined;
  if (se && service !== undefined && !services.includes(service)) {
    ctx.problems.error(
      se.value.pos,
      [...path, "service"],
      `backup hook in service ${service}, which is not defined`,
      services.length ? `services in this file: ${services.join(", ")}` : undefined,
    );
    return undefined;
  }
  const command = ce ? readCommand(ctx, ce.value, [...path, "command"], "command") : undefined;
  if (ce && command !== undefined && command.length === 0) {
    ctx.problems.error(ce.value.pos, [...path, "command"], "command is empty");
    return undefined;
  }
  if (service === undefined || command === undefined) return undefined;
  return { service, command };
}

export function readVolumeBackup(
  ctx: Ctx,
  node: YNode,
  path: Path,
  services: readonly string[],
): VolumeBackup | undefined {
  if (node.kind === "scalar" && typeof node.value === "boolean") {
    return { enabled: node.value, stop: [] };
  }
  if (node.kind === "scalar") {
    const b = asBool(ctx, node, path, "x-berth-backup");
    return b === undefined ? undefined : { enabled: b, stop: [] };
  }
  const map = asMap(
    ctx,
    node,
    path,
    "x-berth-backup (false, or { schedule, retention, before, after, stop })",
  );
  if (!map) return undefined;
  checkKeys(ctx, map, path, {
    accepted: ["schedule", "retention", "before", "after", "stop"],
    what: "x-berth-backup field",
    extensions: false,
  });
  const out: VolumeBackup = { enabled: true, stop: [] };
  let ok = true;
  const sc = entry(map, "schedule");
  if (sc) {
    const s = asText(ctx, sc.value, [...path, "schedule"], "schedule");
    const problem = s === undefined ? "unreadable" : scheduleProblem(s);
    if (s !== undefined && problem) ctx.problems.error(sc.value.pos, [...path, "schedule"], problem);
    if (s === undefined || problem) ok = false;
    else out.schedule = s;
  }
  const re = entry(map, "retention");
  if (re) {
    const rm = asMap(ctx, re.value, [...path, "retention"], "retention");
    if (!rm) ok = false;
    else {
      checkKeys(ctx, rm, [...path, "retention"], {
        accepted: RETENTION_KEYS,
        what: "retention field",
        extensions: false,
      });
      const r = retentionSchema.safeParse(toPlain(rm));
      if (r.success) out.retention = r.data;
      else {
        ok = false;
        for (const issue of r.error.issues) {
          const key = issue.path[0];
          const e = typeof key === "string" ? entry(rm, key) : undefined;
          if (e && !RETENTION_KEYS.includes(key as string)) continue; // reported by checkKeys
          ctx.problems.error(
            e ? e.value.pos : rm.pos,
            [...path, "retention", ...(typeof key === "string" ? [key] : [])],
            e ? `must be a whole number from 1 to 10000` : issue.message,
          );
        }
      }
    }
  }
  for (const k of ["before", "after"] as const) {
    const he = entry(map, k);
    if (!he) continue;
    const h = readHook(ctx, he.value, [...path, k], services);
    if (h) out[k] = h;
    else ok = false;
  }
  const st = entry(map, "stop");
  if (st) {
    const list = st.value.kind === "scalar" && typeof st.value.value === "string" ? [st.value] : undefined;
    const items = list ?? (st.value.kind === "seq" ? st.value.items : undefined);
    if (!items) {
      ctx.problems.error(st.value.pos, [...path, "stop"], "stop must be a list of service names");
      ok = false;
    } else {
      items.forEach((it, i) => {
        const p = list ? [...path, "stop"] : [...path, "stop", i];
        const s = asText(ctx, it, p, "a service name");
        if (s === undefined) ok = false;
        else if (!services.includes(s)) {
          ctx.problems.error(
            it.pos,
            p,
            `stop names service ${s}, which is not defined`,
            services.length ? `services in this file: ${services.join(", ")}` : undefined,
          );
          ok = false;
        } else if (!out.stop.includes(s)) out.stop.push(s);
      });
    }
  }
  return ok ? out : undefined;
}

/** Reads `x-berth-backup` of every top-level volume into `volumes`. */
export function readVolumeBackups(
  ctx: Ctx,
  volumesNode: YNode,
  path: Path,
  services: readonly string[],
  volumes: Record<string, Volume>,
): void {
  if (volumesNode.kind !== "map") return;
  for (const e of volumesNode.entries) {
    const v = volumes[e.key];
    if (!v || e.value.kind !== "map") continue;
    const be = entry(e.value, "x-berth-backup");
    if (!be) continue;
    const b = readVolumeBackup(ctx, be.value, [...path, e.key, "x-berth-backup"], services);
    if (b) v.backup = b;
  }
}
