// Small readers shared by the normalize passes: each reads one shape from the located tree, and
// reports a problem at the node's position when the shape is wrong (returning undefined).
import type { Variables } from "./interpolate";
import type { Path, Pos, Problems } from "./problem";
import type { ProjectFiles } from "./project-files";
import { didYouMean } from "./suggest";
import { describe, type YEntry, type YMap, type YNode, type YScalar } from "./tree";

export interface Ctx {
  problems: Problems;
  variables: Variables;
  /** POSIX path of the project folder (absolute, or relative to the working directory). */
  projectDir: string;
  /** The node's platform (`linux/amd64`, `linux/arm64`): platform: and build.platforms must match it. */
  platform: string;
  /** The project folder's files; absent when the caller gave only the Compose text. */
  files?: ProjectFiles;
}

export interface Reject {
  message: string;
  hint?: string;
}

export type Rejection = Reject | ((e: YEntry) => Reject);

export interface KeySpec {
  /** Keys read by the caller. */
  accepted: readonly string[];
  /** Keys refused, each with its own message. */
  rejected?: Readonly<Record<string, Rejection>>;
  /** Other keys Compose knows and berth does not accept (generic message). */
  known?: readonly string[];
  /** `x-berth-*` keys valid here; other `x-` keys are allowed and ignored by the caller. */
  berthExtensions?: readonly string[];
  /** Whether `x-` keys are allowed at all. */
  extensions?: boolean;
  /** Words for the generic message, e.g. "service field". */
  what: string;
}

/** Reports every key of the map that is not accepted; the caller then reads accepted keys. */
export function checkKeys(ctx: Ctx, map: YMap, path: Path, spec: KeySpec): void {
  for (const e of map.entries) {
    const k = e.key;
    const at = [...path, k];
    if (spec.accepted.includes(k)) continue;
    if (k.startsWith("x-") && spec.extensions !== false) {
      if (k.startsWith("x-berth-") && !(spec.berthExtensions ?? []).includes(k)) {
        const known = spec.berthExtensions ?? [];
        ctx.problems.error(
          e.keyPos,
          at,
          `unknown berth extension ${k}${known.length ? "" : " here"}`,
          known.length ? didYouMean(k, known) : "x-berth-* keys are reserved for berth; rename it",
        );
      }
      continue;
    }
    const r = spec.rejected && Object.hasOwn(spec.rejected, k) ? spec.rejected[k] : undefined;
    if (r) {
      const { message, hint } = typeof r === "function" ? r(e) : r;
      ctx.problems.error(e.keyPos, at, message, hint);
      continue;
    }
    if (spec.known?.includes(k)) {
      ctx.problems.error(
        e.keyPos,
        at,
        `${k} is a Compose ${spec.what} that berth does not support`,
        `remove it; accepted here: ${spec.accepted.join(", ")}`,
      );
      continue;
    }
    ctx.problems.error(
      e.keyPos,
      at,
      `unknown ${spec.what} ${JSON.stringify(k)}`,
      didYouMean(k, spec.accepted),
    );
  }
}

export function asMap(ctx: Ctx, node: YNode, path: Path, what: string): YMap | undefined {
  if (node.kind === "map") return node;
  ctx.problems.error(node.pos, path, `${what} must be a mapping, got ${describe(node)}`);
  return undefined;
}

/** A map, or an empty value (`name:`) which counts as an empty map. */
export function asOptionalMap(ctx: Ctx, node: YNode, path: Path, what: string): YMap | undefined {
  if (node.kind === "scalar" && node.value === null) return { kind: "map", pos: node.pos, entries: [] };
  return asMap(ctx, node, path, what);
}

function isScalar(node: YNode): node is YScalar {
  return node.kind === "scalar";
}

/** A string; numbers are taken as written (`1.10` stays "1.10"). */
export function asText(ctx: Ctx, node: YNode, path: Path, what: string): string | undefined {
  if (isScalar(node) && (typeof node.value === "string" || typeof node.value === "number")) {
    return typeof node.value === "string" ? node.value : node.source;
  }
  ctx.problems.error(node.pos, path, `${what} must be a string, got ${describe(node)}`);
  return undefined;
}

/** A value for an environment variable, label or build arg: strings, numbers and booleans as written. */
export function asValue(node: YScalar): string | null {
  if (node.value === null) return null;
  if (typeof node.value === "string") return node.value;
  return node.source !== "" ? node.source : String(node.value);
}

export function asInt(
  ctx: Ctx,
  node: YNode,
  path: Path,
  what: string,
  range: { min: number; max: number },
): number | undefined {
  let n: number | undefined;
  if (isScalar(node)) {
    if (typeof node.value === "number") n = node.value;
    else if (typeof node.value === "string" && /^[0-9]{1,15}$/.test(node.value.trim()))
      n = Number(node.value.trim());
  }
  if (n === undefined || !Number.isInteger(n)) {
    ctx.problems.error(node.pos, path, `${what} must be a whole number, got ${describe(node)}`);
    return undefined;
  }
  if (n < range.min || n > range.max) {
    ctx.problems.error(node.pos, path, `${what} must be between ${range.min} and ${range.max}, got ${n}`);
    return undefined;
  }
  return n;
}

export function asBool(ctx: Ctx, node: YNode, path: Path, what: string): boolean | undefined {
  if (isScalar(node)) {
    if (typeof node.value === "boolean") return node.value;
    if (node.value === "true") return true;
    if (node.value === "false") return false;
  }
  ctx.problems.error(node.pos, path, `${what} must be true or false, got ${describe(node)}`);
  return undefined;
}

/** A list of strings (numbers as written). */
export function asTextList(ctx: Ctx, node: YNode, path: Path, what: string): string[] | undefined {
  if (node.kind !== "seq") {
    ctx.problems.error(node.pos, path, `${what} must be a list, got ${describe(node)}`);
    return undefined;
  }
  const out: string[] = [];
  let ok = true;
  node.items.forEach((it, i) => {
    const s = asText(ctx, it, [...path, i], `${what} items`);
    if (s === undefined) ok = false;
    else if (s === "") {
      // Each item names something (a capability, a group, an alias, a profile...).
      ctx.problems.error(it.pos, [...path, i], `${what} items must not be empty`, "remove the empty item");
      ok = false;
    } else out.push(s);
  });
  return ok ? out : undefined;
}

/** A string that names something, so not empty (a build target, a user). */
export function asName(ctx: Ctx, node: YNode, path: Path, what: string): string | undefined {
  const s = asText(ctx, node, path, what);
  if (s !== "") return s;
  ctx.problems.error(node.pos, path, `${what} must not be empty`, "give it a value, or remove the key");
  return undefined;
}

export interface KeyValue {
  key: string;
  /** null: written without a value (`KEY` in a list, `KEY:` in a map). */
  value: string | null;
  /** The value node (a map value may be a mapping, e.g. a secret reference). */
  node: YNode;
  pos: Pos;
  path: Path;
}

/** Compose's "list or dict": `{K: V}` or `["K=V", "K"]`. Duplicate keys in a list are reported. */
export function listOrDict(ctx: Ctx, node: YNode, path: Path, what: string): KeyValue[] | undefined {
  if (node.kind === "scalar" && node.value === null) return [];
  if (node.kind === "map") {
    return node.entries.map((e) => ({
      key: e.key,
      value: e.value.kind === "scalar" ? asValue(e.value) : null,
      node: e.value,
      pos: e.keyPos,
      path: [...path, e.key],
    }));
  }
  if (node.kind === "seq") {
    const out: KeyValue[] = [];
    node.items.forEach((it, i) => {
      const p = [...path, i];
      const s = asText(ctx, it, p, `${what} items`);
      if (s === undefined) return;
      const eq = s.indexOf("=");
      const key = eq < 0 ? s : s.slice(0, eq);
      if (out.some((o) => o.key === key)) {
        ctx.problems.error(it.pos, p, `${what}: ${key} is given twice`, "keep one of them");
        return;
      }
      out.push({ key, value: eq < 0 ? null : s.slice(eq + 1), node: it, pos: it.pos, path: p });
    });
    return out;
  }
  ctx.problems.error(
    node.pos,
    path,
    `${what} must be a mapping or a list of KEY=VALUE, got ${describe(node)}`,
  );
  return undefined;
}

export function setKey<T>(r: Record<string, T>, key: string, value: T): void {
  // Only `__proto__` is not an own property when assigned; defining every key cost ~1.5% of a
  // 20-service file's load (bench:contract).
  if (key === "__proto__")
    Object.defineProperty(r, key, { value, enumerable: true, writable: true, configurable: true });
  else r[key] = value;
}
