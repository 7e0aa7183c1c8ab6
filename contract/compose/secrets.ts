// Compose secrets and configs.
//
// Top-level `secrets:` name where a value comes from: `file:` (inside the project folder, read by
// the program at preview), `environment:` (a variable of the stack or the project's .env), or
// `x-berth-secret: NAME` (a secret of the stack). Either way the value travels sealed to the node
// like every berth secret: the manifest holds only the berth secret's name (`compose.<name>` for
// file and environment sources) and where to read it, never the value.
//
// Top-level `configs:` (`file:`, `content:`, `environment:`) are not secret: their content is in
// the manifest and travels in the signed release.
//
// Services mount them with the short syntax (`- name`) or the long one (source, target, uid, gid,
// mode): secrets at /run/secrets/<target or name>, configs at /<name> or their target.
import * as posix from "node:path/posix";
import { NAME_PATTERN, SECRET_NAME_PATTERN } from "../manifest/patterns";
import type { ComposeSecret, FileMount } from "../manifest/schema";
import { insideProject } from "./build";
import type { Path } from "./problem";
import type { ProjectFiles } from "./project-files";
import { asMap, asText, type Ctx, checkKeys, setKey } from "./read";
import { describe, entry, type YNode } from "./tree";

/** The berth secret that holds a file- or environment-sourced Compose secret. */
export function composeSecretName(name: string): string {
  return `compose.${name}`;
}

function readSource(
  ctx: Ctx,
  node: YNode,
  path: Path,
  kind: "secret" | "config",
): { file?: string; variable?: string; content?: string; berth?: string } | undefined {
  const map = asMap(ctx, node, path, `a ${kind}`);
  if (!map) return undefined;
  checkKeys(ctx, map, path, {
    accepted:
      kind === "secret" ? ["file", "environment", "name"] : ["file", "environment", "content", "name"],
    berthExtensions: kind === "secret" ? ["x-berth-secret"] : [],
    rejected: {
      external: {
        message: `external ${kind}s live in a Swarm, which berth nodes do not run`,
        hint:
          kind === "secret"
            ? "keep the value as a berth secret and write x-berth-secret: NAME"
            : "write the content under content:, or keep the file in the project folder",
      },
      driver: {
        message: `${kind} drivers are Swarm plugins, which berth nodes do not run`,
        hint: "use file: or environment:",
      },
      driver_opts: {
        message: `${kind} drivers are Swarm plugins, which berth nodes do not run`,
        hint: "remove driver_opts:",
      },
      template_driver: { message: "template drivers are Swarm plugins", hint: "remove template_driver:" },
      labels: { message: `${kind} labels are Swarm metadata, unused on a node`, hint: "remove labels:" },
    },
    what: `${kind} field`,
  });
  const sources = map.entries.filter((e) =>
    ["file", "environment", "content", "x-berth-secret"].includes(e.key),
  );
  if (sources.length !== 1) {
    ctx.problems.error(
      map.pos,
      path,
      `a ${kind} needs exactly one source${sources.length ? `, not ${sources.map((s) => s.key).join(" and ")}` : ""}`,
      kind === "secret"
        ? "file: PATH (inside the project), environment: VARIABLE, or x-berth-secret: NAME"
        : "file: PATH (inside the project), content: TEXT, or environment: VARIABLE",
    );
    return undefined;
  }
  const src = sources[0] as (typeof sources)[number];
  const at = [...path, src.key];
  const v = asText(ctx, src.value, at, src.key);
  if (v === undefined) return undefined;
  if (src.key === "x-berth-secret") {
    if (!SECRET_NAME_PATTERN.test(v)) {
      ctx.problems.error(
        src.value.pos,
        at,
        `${JSON.stringify(v)} is not a secret name`,
        "1-128 letters, digits, '.', '_' or '-'",
      );
      return undefined;
    }
    return { berth: v };
  }
  if (src.key === "content") return { content: v };
  if (src.key === "environment") {
    if (ctx.variables.get(v) === undefined) {
      ctx.problems.error(
        src.value.pos,
        at,
        `variable ${v} is not set`,
        kind === "secret"
          ? `set it (pulumi config set --path 'berth:environments[N].variables.${v}'), or keep the value as a berth secret and write x-berth-secret: NAME`
          : "set it in the stack's variables or the project folder's .env",
      );
      return undefined;
    }
    return { variable: v };
  }
  const rel = v.includes("\\") ? undefined : insideProject(ctx.projectDir, ".", v);
  if (rel === undefined) {
    ctx.problems.error(
      src.value.pos,
      at,
      `the ${kind} file ${v} is outside the project folder`,
      "keep it inside the project folder, written relative to the Compose file (no ..)",
    );
    return undefined;
  }
  if (!ctx.files) {
    ctx.problems.error(
      src.value.pos,
      at,
      `${v} cannot be read: no project folder was given`,
      "validate the file with its project folder",
    );
    return undefined;
  }
  const r = ctx.files.read(rel);
  if (!r.ok) {
    ctx.problems.error(
      src.value.pos,
      at,
      r.missing ? `the ${kind} file ${v} does not exist` : r.message,
      r.missing ? `create ${rel}` : undefined,
    );
    return undefined;
  }
  return kind === "config" ? { content: r.text } : { file: rel };
}

export function readTopSecrets(ctx: Ctx, node: YNode, path: Path): Record<string, ComposeSecret> {
  const out: Record<string, ComposeSecret> = {};
  const map = asMap(ctx, node, path, "secrets");
  for (const e of map?.entries ?? []) {
    const p = [...path, e.key];
    if (!NAME_PATTERN.test(e.key)) {
      ctx.problems.error(
        e.keyPos,
        p,
        `${JSON.stringify(e.key)} is not a valid secret name`,
        "letters, digits, '.', '_' or '-'",
      );
      continue;
    }
    const s = readSource(ctx, e.value, p, "secret");
    if (!s) continue;
    if (s.berth) setKey(out, e.key, { secret: s.berth });
    else if (s.file) setKey(out, e.key, { secret: composeSecretName(e.key), file: s.file });
    else if (s.variable) setKey(out, e.key, { secret: composeSecretName(e.key), variable: s.variable });
  }
  return out;
}

export function readTopConfigs(ctx: Ctx, node: YNode, path: Path): Record<string, { content: string }> {
  const out: Record<string, { content: string }> = {};
  const map = asMap(ctx, node, path, "configs");
  for (const e of map?.entries ?? []) {
    const p = [...path, e.key];
    if (!NAME_PATTERN.test(e.key)) {
      ctx.problems.error(
        e.keyPos,
        p,
        `${JSON.stringify(e.key)} is not a valid config name`,
        "letters, digits, '.', '_' or '-'",
      );
      continue;
    }
    const s = readSource(ctx, e.value, p, "config");
    if (!s) continue;
    const content = s.content ?? (s.variable !== undefined ? (ctx.variables.get(s.variable) ?? "") : "");
    setKey(out, e.key, { content });
  }
  return out;
}

/** `0440` and `0o440` are octal, as Compose reads a mode; `288` is decimal. */
function mode(ctx: Ctx, node: YNode, path: Path): number | undefined {
  const src = node.kind === "scalar" ? node.source.trim() : "";
  const n = /^0o?[0-7]+$/.test(src)
    ? Number.parseInt(src.replace(/^0o?/, "") || "0", 8)
    : /^[0-9]+$/.test(src)
      ? Number(src)
      : Number.NaN;
  if (!Number.isInteger(n) || n < 0 || n > 0o7777) {
    ctx.problems.error(node.pos, path, `mode must be a file mode like 0440, got ${describe(node)}`);
    return undefined;
  }
  return n;
}

function id(ctx: Ctx, node: YNode, path: Path, what: string): number | undefined {
  const s = node.kind === "scalar" ? node.source.trim() : "";
  if (!/^[0-9]{1,10}$/.test(s) || Number(s) > 2 ** 32 - 2) {
    ctx.problems.error(
      node.pos,
      path,
      `${what} must be a numeric id, got ${describe(node)}`,
      `e.g. ${what}: "1000"`,
    );
    return undefined;
  }
  return Number(s);
}

/** services.*.secrets or services.*.configs: the mounts, each of a declared top-level name. */
export function readFileMounts(
  ctx: Ctx,
  node: YNode,
  path: Path,
  kind: "secret" | "config",
  declared: ReadonlySet<string>,
): FileMount[] {
  const out: FileMount[] = [];
  if (node.kind !== "seq") {
    ctx.problems.error(
      node.pos,
      path,
      `${kind}s must be a list`,
      `e.g. ${kind}s: [NAME] or [{ source: NAME, target: ... }]`,
    );
    return out;
  }
  node.items.forEach((it, i) => {
    const p = [...path, i];
    let source: string | undefined;
    let target: string | undefined;
    let uid = 0;
    let gid = 0;
    let m = 0o444;
    let ok = true;
    if (it.kind === "map") {
      checkKeys(ctx, it, p, { accepted: ["source", "target", "uid", "gid", "mode"], what: `${kind} field` });
      const s = entry(it, "source");
      source = s ? asText(ctx, s.value, [...p, "source"], "source") : undefined;
      if (!s) ctx.problems.error(it.pos, p, `a ${kind} needs source:`);
      const t = entry(it, "target");
      if (t) target = asText(ctx, t.value, [...p, "target"], "target");
      for (const [k, set] of [
        ["uid", (v: number) => (uid = v)],
        ["gid", (v: number) => (gid = v)],
      ] as const) {
        const e = entry(it, k);
        if (!e) continue;
        const v = id(ctx, e.value, [...p, k], k);
        if (v === undefined) ok = false;
        else set(v);
      }
      const me = entry(it, "mode");
      if (me) {
        const v = mode(ctx, me.value, [...p, "mode"]);
        if (v === undefined) ok = false;
        else m = v;
      }
    } else source = asText(ctx, it, p, `a ${kind}`);
    if (source === undefined || !ok) return;
    if (!declared.has(source)) {
      ctx.problems.error(
        it.pos,
        p,
        `${kind} ${source} is not declared under top-level ${kind}s:`,
        `add it: ${kind}s: { ${source}: { file: ./${source}.txt } }`,
      );
      return;
    }
    const base = kind === "secret" ? "/run/secrets" : "/";
    const full = posix.normalize(
      target === undefined
        ? posix.join(base, source)
        : posix.isAbsolute(target)
          ? target
          : posix.join(base, target),
    );
    if (full === "/" || full.endsWith("/")) {
      ctx.problems.error(it.pos, p, `the ${kind} target ${target} is not a file path`);
      return;
    }
    if (out.some((o) => o.target === full)) {
      ctx.problems.error(it.pos, p, `two ${kind}s are mounted at ${full}`, "give each its own target");
      return;
    }
    out.push({ source, target: full, uid, gid, mode: m });
  });
  return out;
}

/**
 * The values of the Compose secrets that come from the project (file:) or a variable
 * (environment:), by their berth secret name, read at preview for the program to seal. Secrets
 * named with x-berth-secret are the stack's own and are not read here.
 */
export function composeSecretValues(
  secrets: Readonly<Record<string, ComposeSecret>> | undefined,
  files: ProjectFiles | undefined,
  variables: ReadonlyMap<string, string>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const c of Object.values(secrets ?? {})) {
    if (c.file !== undefined) {
      const r = files?.read(c.file);
      if (!r?.ok) throw new Error(`the secret file ${c.file} cannot be read${r ? `: ${r.message}` : ""}`);
      setKey(out, c.secret, r.text);
    } else if (c.variable !== undefined) {
      const v = variables.get(c.variable);
      if (v === undefined)
        throw new Error(`the variable ${c.variable} that holds secret ${c.secret} is not set`);
      setKey(out, c.secret, v);
    }
  }
  return out;
}
