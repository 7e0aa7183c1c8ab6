// services.*.healthcheck, every Compose field: test (string → CMD-SHELL; list starting with CMD,
// CMD-SHELL or NONE), interval, timeout, retries, start_period, start_interval, disable.
import type { Healthcheck } from "../manifest/schema";
import type { Path } from "./problem";
import { asBool, asInt, asMap, asText, type Ctx, checkKeys } from "./read";
import { entry, type YNode } from "./tree";
import { parseDurationMs } from "./units";

const DURATIONS = [
  ["interval", "intervalMs"],
  ["timeout", "timeoutMs"],
  ["start_period", "startPeriodMs"],
  ["start_interval", "startIntervalMs"],
] as const;

export function readDuration(ctx: Ctx, node: YNode, path: Path, what: string): number | undefined {
  if (node.kind !== "scalar" || (typeof node.value !== "string" && typeof node.value !== "number")) {
    ctx.problems.error(node.pos, path, `${what} must be a duration like 30s or 1m30s`);
    return undefined;
  }
  const r = parseDurationMs(node.value);
  if (!r.ok) {
    ctx.problems.error(node.pos, path, `${what}: ${r.message}`, "write a duration like 30s, 1m30s or 500ms");
    return undefined;
  }
  return r.ms;
}

function readTest(ctx: Ctx, node: YNode, path: Path): string[] | undefined {
  if (node.kind === "scalar" && typeof node.value === "string") {
    if (node.value.trim() === "") {
      ctx.problems.error(
        node.pos,
        path,
        "the healthcheck test is empty",
        "write a command, or disable: true",
      );
      return undefined;
    }
    return ["CMD-SHELL", node.value];
  }
  if (node.kind !== "seq") {
    ctx.problems.error(
      node.pos,
      path,
      "healthcheck test must be a string or a list",
      'e.g. ["CMD", "curl", "-f", "http://localhost/"]',
    );
    return undefined;
  }
  const words: string[] = [];
  node.items.forEach((it, i) => {
    const s = asText(ctx, it, [...path, i], "healthcheck test words");
    if (s !== undefined) words.push(s);
  });
  if (words.length !== node.items.length) return undefined;
  const [kind, ...rest] = words;
  const hint =
    'start the list with "CMD" (then the command and its arguments), "CMD-SHELL" (then one script) or "NONE"';
  if (kind === "NONE" && rest.length === 0) return words;
  if (kind === "CMD" && rest.length >= 1) return words;
  if (kind === "CMD-SHELL" && rest.length === 1) return words;
  if (kind === "CMD-SHELL" && rest.length > 1) return ["CMD-SHELL", rest.join(" ")];
  ctx.problems.error(node.pos, path, `healthcheck test ${JSON.stringify(words)} is not valid`, hint);
  return undefined;
}

export function readHealthcheck(ctx: Ctx, node: YNode, path: Path): Healthcheck | undefined {
  const map = asMap(ctx, node, path, "healthcheck");
  if (!map) return undefined;
  checkKeys(ctx, map, path, {
    accepted: ["test", "interval", "timeout", "retries", "start_period", "start_interval", "disable"],
    what: "healthcheck field",
  });
  const out: Healthcheck = { disable: false };
  const t = entry(map, "test");
  if (t) {
    const test = readTest(ctx, t.value, [...path, "test"]);
    if (test) out.test = test;
  }
  for (const [key, field] of DURATIONS) {
    const e = entry(map, key);
    if (!e) continue;
    const ms = readDuration(ctx, e.value, [...path, key], key);
    if (ms !== undefined) out[field] = ms;
  }
  const r = entry(map, "retries");
  if (r) {
    const n = asInt(ctx, r.value, [...path, "retries"], "retries", { min: 0, max: 1_000_000 });
    if (n !== undefined) out.retries = n;
  }
  const d = entry(map, "disable");
  if (d) out.disable = asBool(ctx, d.value, [...path, "disable"], "disable") ?? false;
  if (out.test?.[0] === "NONE") out.disable = true;
  if (out.disable) out.test = ["NONE"];
  return out;
}
