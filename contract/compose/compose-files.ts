// `include` and `extends` of files inside the project folder, resolved on the located tree before
// interpolation, with Compose's semantics:
// - include: each file (and what it includes) brings its services, volumes, networks, secrets
//   and configs; a name the including file (or another include) defines as well is an error;
//   relative paths in an included file are relative to that file's folder;
// - extends: the base service (same file, or `file:` inside the project), itself resolved, is
//   merged under the service as compose-go merges (override/merge.go): mappings key by key,
//   list-or-dict fields (environment, labels, build.args, depends_on, networks, extra_hosts, ...)
//   by key, volumes by target, command/entrypoint/healthcheck.test replaced, other lists appended
//   without duplicates, scalars replaced; `!override` replaces and `!reset` removes.
// Every node keeps the file it was written in, so a problem is located where it comes from.
import * as posix from "node:path/posix";
import { insideProject } from "./build";
import { interpolateString } from "./interpolate";
import { parseYaml } from "./parse";
import type { Path, Pos } from "./problem";
import type { Ctx } from "./read";
import { isRemote } from "./remote";
import { entry, type YEntry, type YMap, type YNode, type YScalar } from "./tree";

/** How deep includes and extends may chain. */
const MAX_CHAIN = 32;

interface Loaded {
  root: YMap;
  /** Project-relative path of the file ("" for the Compose file itself). */
  rel: string;
}

function dirOf(rel: string): string {
  return posix.dirname(rel);
}

function text(node: YNode | undefined): string | undefined {
  return node?.kind === "scalar" && (typeof node.value === "string" || typeof node.value === "number")
    ? String(node.value)
    : undefined;
}

function scalar(value: string, pos: Pos): YScalar {
  return { kind: "scalar", pos, value, source: value };
}

/** Whether a text may hold a `!reset` or `!override` tag (any spelling of one names it). */
function mayHoldMergeTags(text: string): boolean {
  return text.includes("reset") || text.includes("override");
}

export class ComposeFiles {
  private readonly cache = new Map<string, Loaded | undefined>();
  /** Set once a file read may hold a merge tag: without one, no walk strips them. */
  private tagged: boolean;

  /**
   * `mainRel`: the Compose file's own path relative to the project folder; `mainText`, its text.
   */
  constructor(
    private readonly ctx: Ctx,
    private readonly mainRel: string,
    mainText: string,
  ) {
    this.tagged = mayHoldMergeTags(mainText);
  }

  /** Resolves the main file's include and its services' extends, in place. */
  resolve(root: YMap): void {
    const main = { root, rel: this.mainRel };
    this.include(main, [], 0);
    this.extendAll(main);
    // The walk visits every value an alias expanded to (320,000 in an 800-step merge chain).
    if (this.tagged) stripResets(root);
  }

  private interpolated(node: YNode, path: Path): string | undefined {
    const raw = text(node);
    if (raw === undefined) {
      this.ctx.problems.error(node.pos, path, "a file path must be a string");
      return undefined;
    }
    const r = interpolateString(raw, this.ctx.variables);
    if (!r.ok) {
      for (const e of r.errors) this.ctx.problems.error(node.pos, path, e.message, e.hint);
      return undefined;
    }
    return r.value;
  }

  /** A file named in `from` (a project-relative file), read and parsed once. */
  private load(node: YNode, path: Path, from: string, what: string): Loaded | undefined {
    const p = this.interpolated(node, path);
    if (p === undefined) return undefined;
    if (isRemote(p)) {
      this.ctx.problems.error(
        node.pos,
        path,
        `${what} of a remote file (${p}) is not allowed: berth never fetches Compose files from the network`,
        "copy the file into the project folder and name it by its path",
      );
      return undefined;
    }
    const rel = p.includes("\\") ? undefined : insideProject(this.ctx.projectDir, dirOf(from), p);
    if (rel === undefined) {
      this.ctx.problems.error(
        node.pos,
        path,
        `${what} of ${p}, outside the project folder, is not allowed`,
        "keep every Compose file inside the project folder (no .., no absolute path elsewhere)",
      );
      return undefined;
    }
    if (this.cache.has(rel)) return this.cache.get(rel);
    if (!this.ctx.files) {
      this.ctx.problems.error(
        node.pos,
        path,
        `${p} cannot be read: no project folder was given`,
        "validate the file with its project folder",
      );
      return undefined;
    }
    const r = this.ctx.files.read(rel);
    if (!r.ok) {
      this.ctx.problems.error(
        node.pos,
        path,
        r.missing ? `${what}: ${p} does not exist` : r.message,
        r.missing ? `create ${rel}, or fix the path` : undefined,
      );
      this.cache.set(rel, undefined);
      return undefined;
    }
    if (mayHoldMergeTags(r.text)) this.tagged = true;
    const parsed = parseYaml(r.text, this.ctx.problems, rel);
    const root = parsed.root;
    if (root?.kind !== "map") {
      if (parsed.root)
        this.ctx.problems.error(parsed.root.pos, [], `${rel} is not a Compose file (a mapping)`);
      this.cache.set(rel, undefined);
      return undefined;
    }
    const loaded = { root, rel };
    this.cache.set(rel, loaded);
    rebase(loaded);
    return loaded;
  }

  // --- include -------------------------------------------------------------------------------

  private include(file: Loaded, chain: string[], depth: number): void {
    const idx = file.root.entries.findIndex((e) => e.key === "include");
    if (idx < 0) return;
    const inc = file.root.entries[idx] as YEntry;
    file.root.entries.splice(idx, 1);
    const items = inc.value.kind === "seq" ? inc.value.items : [inc.value];
    items.forEach((item, i) => {
      const at: Path = inc.value.kind === "seq" ? ["include", i] : ["include"];
      let paths: { node: YNode; path: Path }[] = [];
      if (item.kind === "map") {
        for (const e of item.entries) {
          if (e.key === "path") continue;
          this.ctx.problems.error(
            e.keyPos,
            [...at, e.key],
            e.key === "project_directory" || e.key === "env_file"
              ? `include.${e.key} is not supported: every included file shares the project folder's .env and the stack's variables`
              : `unknown include field ${JSON.stringify(e.key)}`,
            "remove it, and give the included file's values as variables",
          );
        }
        const p = entry(item, "path");
        if (!p) {
          this.ctx.problems.error(item.pos, at, "an include entry needs path:");
          return;
        }
        paths =
          p.value.kind === "seq"
            ? p.value.items.map((n, j) => ({ node: n, path: [...at, "path", j] }))
            : [{ node: p.value, path: [...at, "path"] }];
      } else paths = [{ node: item, path: at }];
      for (const { node, path } of paths) {
        const target = this.load(node, path, file.rel, "include");
        if (!target) continue;
        if (target.rel === file.rel || chain.includes(target.rel)) {
          this.ctx.problems.error(
            node.pos,
            path,
            `include cycle: ${[...chain, file.rel, target.rel].join(" -> ")}`,
            "remove one of the includes",
          );
          continue;
        }
        if (depth >= MAX_CHAIN) {
          this.ctx.problems.error(node.pos, path, `includes nest deeper than ${MAX_CHAIN} files`);
          continue;
        }
        this.include(target, [...chain, file.rel], depth + 1);
        this.extendAll(target);
        this.adopt(file.root, target, node.pos, path);
      }
    });
  }

  /** Adds an included file's top-level resources; a name defined twice is an error. */
  private adopt(into: YMap, from: Loaded, pos: Pos, path: Path): void {
    for (const section of ["services", "volumes", "networks", "secrets", "configs"]) {
      const src = entry(from.root, section);
      if (src?.value.kind !== "map") continue;
      let dst = entry(into, section);
      if (!dst) {
        dst = { key: section, keyPos: src.keyPos, value: { kind: "map", pos: src.value.pos, entries: [] } };
        into.entries.push(dst);
      }
      if (dst.value.kind !== "map") continue;
      for (const e of src.value.entries) {
        const other = entry(dst.value, e.key);
        if (other) {
          this.ctx.problems.error(
            pos,
            path,
            `${from.rel} defines ${section}.${e.key}, which is already defined${other.keyPos.file ? ` in ${other.keyPos.file}` : ""} at line ${other.keyPos.line}`,
            "rename one of them; an included file cannot override a resource",
          );
          continue;
        }
        dst.value.entries.push(e);
      }
    }
  }

  // --- extends -------------------------------------------------------------------------------

  private extendAll(file: Loaded): void {
    const services = entry(file.root, "services");
    if (services?.value.kind !== "map") return;
    for (const e of services.value.entries) {
      this.extendService(file, e, ["services", e.key], []);
    }
  }

  /** Resolves `extends` of one service entry in place; returns the resolved service. */
  private extendService(file: Loaded, svc: YEntry, path: Path, chain: string[]): YNode {
    if (svc.value.kind !== "map") return svc.value;
    const map = svc.value;
    const ext = entry(map, "extends");
    if (!ext) return map;
    const at = [...path, "extends"];
    // Removed once resolved; left in place (and ignored by the service reader) when it cannot be.
    const resolved = (m: YNode): YNode => {
      if (m.kind === "map") m.entries = m.entries.filter((e) => e.key !== "extends");
      return m;
    };
    let baseName: string | undefined;
    let baseFile: Loaded | undefined = file;
    if (ext.value.kind === "map") {
      for (const e of ext.value.entries) {
        if (e.key !== "service" && e.key !== "file")
          this.ctx.problems.error(
            e.keyPos,
            [...at, e.key],
            `unknown extends field ${JSON.stringify(e.key)}`,
            "extends takes service: and file:",
          );
      }
      const s = entry(ext.value, "service");
      baseName = s ? this.interpolated(s.value, [...at, "service"]) : undefined;
      if (!s)
        this.ctx.problems.error(ext.value.pos, at, "extends needs service:", "name the service to extend");
      const f = entry(ext.value, "file");
      if (f) baseFile = this.load(f.value, [...at, "file"], file.rel, "extends");
    } else baseName = this.interpolated(ext.value, at);
    if (baseName === undefined || !baseFile) return map;
    const key = `${baseFile.rel}#${baseName}`;
    const self = `${file.rel}#${String(path[1])}`;
    if (chain.includes(key) || key === self) {
      const names = [...chain, self, key].map((k) => (k.startsWith("#") ? k.slice(1) : k));
      this.ctx.problems.error(
        ext.value.pos,
        at,
        `extends cycle: ${names.join(" -> ")}`,
        "remove one of the extends",
      );
      return map;
    }
    if (chain.length >= MAX_CHAIN) {
      this.ctx.problems.error(ext.value.pos, at, `extends chains deeper than ${MAX_CHAIN} services`);
      return map;
    }
    const services = entry(baseFile.root, "services");
    const base = services?.value.kind === "map" ? entry(services.value, baseName) : undefined;
    if (!base) {
      this.ctx.problems.error(
        ext.value.pos,
        at,
        `extends: there is no service ${baseName} in ${baseFile.rel}`,
        "name a service that file defines",
      );
      return map;
    }
    const resolvedBase = this.extendService(baseFile, base, ["services", baseName], [...chain, self]);
    const merged = resolved(mergeNode(clone(resolvedBase), resolved(map), []));
    svc.value = merged;
    return merged;
  }
}

// --- paths -----------------------------------------------------------------------------------

/** Rewrites the relative paths of a file in a sub-folder so they are relative to the project. */
function rebase(file: Loaded): void {
  const dir = dirOf(file.rel);
  if (dir === ".") return;
  const fix = (node: YNode | undefined) => {
    if (node?.kind !== "scalar" || typeof node.value !== "string") return;
    const v = node.value;
    if (v === "" || v.startsWith("/") || v.startsWith("~") || v.includes("$") || isRemote(v)) return;
    node.value = posix.join(dir, v);
    node.source = node.value;
  };
  const services = entry(file.root, "services");
  for (const s of services?.value.kind === "map" ? services.value.entries : []) {
    if (s.value.kind !== "map") continue;
    const build = entry(s.value, "build");
    if (build?.value.kind === "scalar") fix(build.value);
    else if (build?.value.kind === "map") {
      const c = entry(build.value, "context");
      if (c) fix(c.value);
      else
        build.value.entries.push({ key: "context", keyPos: build.keyPos, value: scalar(dir, build.keyPos) });
    }
    const envFile = entry(s.value, "env_file");
    const files = envFile?.value.kind === "seq" ? envFile.value.items : envFile ? [envFile.value] : [];
    for (const f of files) {
      if (f.kind === "map") fix(entry(f, "path")?.value);
      else fix(f);
    }
  }
  for (const section of ["secrets", "configs"]) {
    const top = entry(file.root, section);
    for (const e of top?.value.kind === "map" ? top.value.entries : []) {
      if (e.value.kind === "map") fix(entry(e.value, "file")?.value);
    }
  }
}

// --- merge -----------------------------------------------------------------------------------

function clone<T extends YNode>(n: T): T {
  if (n.kind === "scalar") return { ...n };
  if (n.kind === "seq") return { ...n, items: n.items.map(clone) };
  return { ...n, entries: n.entries.map((e) => ({ ...e, value: clone(e.value) })) } as T;
}

/** Fields written as a list of KEY=VALUE or a mapping, merged by key. */
const BY_KEY = new Set([
  "environment",
  "labels",
  "annotations",
  "sysctls",
  "extra_hosts",
  "depends_on",
  "networks",
  "build.args",
  "build.labels",
  "build.additional_contexts",
  "build.extra_hosts",
  "logging.options",
  "deploy.labels",
]);
const REPLACED = new Set(["command", "entrypoint", "healthcheck.test"]);

/** A list-or-dict node as a mapping (`K=V` items become `K: V`, `K` becomes `K:`). */
function asKeyed(n: YNode, field: string): YMap | undefined {
  if (n.kind === "map") return n;
  if (n.kind !== "seq") return undefined;
  const entries: YEntry[] = [];
  for (const it of n.items) {
    const s = text(it);
    if (s === undefined) return undefined;
    if (field === "depends_on" || field === "networks") {
      entries.push({
        key: s,
        keyPos: it.pos,
        value: { kind: "scalar", pos: it.pos, value: null, source: "" },
      });
      continue;
    }
    const eq = s.indexOf("=");
    const sep = eq >= 0 ? eq : field.endsWith("extra_hosts") ? s.indexOf(":") : -1;
    const k = sep < 0 ? s : s.slice(0, sep);
    const value: YScalar =
      sep < 0 ? { kind: "scalar", pos: it.pos, value: null, source: "" } : scalar(s.slice(sep + 1), it.pos);
    const at = entries.findIndex((e) => e.key === k);
    if (at >= 0) entries.splice(at, 1);
    entries.push({ key: k, keyPos: it.pos, value });
  }
  return { kind: "map", pos: n.pos, entries };
}

function mountTarget(n: YNode): string | undefined {
  if (n.kind === "map") return text(entry(n, "target")?.value);
  const s = text(n);
  if (s === undefined) return undefined;
  const parts = s.split(":");
  return parts.length >= 2 ? parts[1] : parts[0];
}

function sameScalar(a: YNode, b: YNode): boolean {
  return a.kind === "scalar" && b.kind === "scalar" && a.value === b.value;
}

/** `over` merged onto `base` (a service, or a part of one at `field`, e.g. "build.args"). */
export function mergeNode(base: YNode, over: YNode, field: string[]): YNode {
  const name = field.join(".");
  if (over.tag === "override" || over.tag === "reset") return over;
  if (REPLACED.has(name)) return over;
  if (BY_KEY.has(name)) {
    const a = asKeyed(base, name);
    const b = asKeyed(over, name);
    if (a && b) return mergeMaps(a, b, field);
    return over;
  }
  if (name === "volumes" && base.kind === "seq" && over.kind === "seq") {
    const items = [...base.items];
    for (const it of over.items) {
      const t = mountTarget(it);
      const at = t === undefined ? -1 : items.findIndex((x) => mountTarget(x) === t);
      if (at >= 0) items[at] = it;
      else items.push(it);
    }
    return { ...over, items };
  }
  if (name === "logging" && base.kind === "map" && over.kind === "map") {
    const d1 = text(entry(base, "driver")?.value);
    const d2 = text(entry(over, "driver")?.value);
    if (d1 !== undefined && d2 !== undefined && d1 !== d2) return over;
  }
  if (base.kind === "map" && over.kind === "map") return mergeMaps(base, over, field);
  if (base.kind === "seq" && over.kind === "seq") {
    const items = [...base.items];
    for (const it of over.items) if (!items.some((x) => sameScalar(x, it))) items.push(it);
    return { ...over, items };
  }
  return over;
}

function mergeMaps(base: YMap, over: YMap, field: string[]): YMap {
  const entries = base.entries.map((e) => ({ ...e }));
  for (const e of over.entries) {
    const at = entries.findIndex((x) => x.key === e.key);
    if (at < 0) entries.push(e);
    else {
      const b = entries[at] as YEntry;
      // Inside a keyed field (environment, labels...) the values are plain: the later one wins.
      const inner = BY_KEY.has(field.join(".")) ? e.value : mergeNode(b.value, e.value, [...field, e.key]);
      entries[at] = { ...e, value: inner };
    }
  }
  return { ...over, entries };
}

/** `!reset` removes the key; `!override` has done its work. */
function stripResets(node: YNode): void {
  if (node.kind === "map") {
    // A new array and a property deleted only where there is a tag: this walk visits every value
    // an alias expanded to (320,000 in an 800-step merge chain).
    if (node.entries.some((e) => e.value.tag === "reset"))
      node.entries = node.entries.filter((e) => e.value.tag !== "reset");
    for (const e of node.entries) {
      if (e.value.tag !== undefined) delete e.value.tag;
      stripResets(e.value);
    }
  } else if (node.kind === "seq") {
    for (const it of node.items) stripResets(it);
  }
}
