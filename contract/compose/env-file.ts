// services.*.env_file: files of the project folder read at preview, merged as Compose merges
// them: in the order listed, a later file's KEY over an earlier one's, and `environment:` over
// them all. `path`, `required` (default true: a missing file is an error; false: skipped) and
// `format` (`raw`: the text after `=` as written) are honoured. The values are plain values in the
// release, like `environment:` ones: credentials belong in secrets.
import type { EnvValue } from "../manifest/schema";
import { insideProject } from "./build";
import { parseDotenv } from "./dotenv";
import type { Path } from "./problem";
import { asBool, asText, type Ctx, checkKeys, setKey } from "./read";
import { entry, type YNode } from "./tree";

interface EnvFileRef {
  path: string;
  required: boolean;
  raw: boolean;
  node: YNode;
  at: Path;
}

type What = "env_file" | "label_file";

function refs(ctx: Ctx, node: YNode, path: Path, what: What): EnvFileRef[] {
  const items =
    node.kind === "seq" ? node.items.map((n, i) => [n, [...path, i]] as const) : [[node, path] as const];
  const out: EnvFileRef[] = [];
  for (const [n, at] of items) {
    if (n.kind === "map" && what === "env_file") {
      checkKeys(ctx, n, at, { accepted: ["path", "required", "format"], what: "env_file field" });
      const p = entry(n, "path");
      if (!p) {
        ctx.problems.error(n.pos, at, "an env_file entry needs path:", "e.g. - path: ./web.env");
        continue;
      }
      const file = asText(ctx, p.value, [...at, "path"], "env_file path");
      const r = entry(n, "required");
      const required = r ? asBool(ctx, r.value, [...at, "required"], "required") : true;
      const f = entry(n, "format");
      const format = f ? asText(ctx, f.value, [...at, "format"], "env_file format") : undefined;
      if (format !== undefined && format !== "raw") {
        ctx.problems.error(
          f?.value.pos ?? n.pos,
          [...at, "format"],
          `env_file format ${JSON.stringify(format)} is not one Compose knows`,
          "leave it out, or write format: raw",
        );
        continue;
      }
      if (file === undefined || required === undefined) continue;
      out.push({ path: file, required, raw: format === "raw", node: p.value, at: [...at, "path"] });
      continue;
    }
    const file = asText(ctx, n, at, what);
    if (file !== undefined) out.push({ path: file, required: true, raw: false, node: n, at });
  }
  return out;
}

export function readEnvFiles(ctx: Ctx, node: YNode, path: Path): Record<string, EnvValue> {
  const out: Record<string, EnvValue> = {};
  for (const [k, v] of readFiles(ctx, node, path, "env_file")) setKey(out, k, { value: v });
  return out;
}

/**
 * services.*.label_file: files of the project folder in the env-file syntax, read at preview;
 * a later file's label over an earlier one's, and `labels:` over them all (as Compose merges).
 */
export function readLabelFiles(ctx: Ctx, node: YNode, path: Path): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of readFiles(ctx, node, path, "label_file")) setKey(out, k, v);
  return out;
}

function readFiles(ctx: Ctx, node: YNode, path: Path, what: What): [string, string][] {
  const out: [string, string][] = [];
  for (const ref of refs(ctx, node, path, what)) {
    const rel = ref.path.includes("\\") ? undefined : insideProject(ctx.projectDir, ".", ref.path);
    if (rel === undefined) {
      ctx.problems.error(
        ref.node.pos,
        ref.at,
        `${what} ${ref.path} is outside the project folder`,
        "keep the file inside the project folder, written relative to the Compose file (no ..)",
      );
      continue;
    }
    if (!ctx.files) {
      ctx.problems.error(
        ref.node.pos,
        ref.at,
        `${what} ${ref.path} cannot be read: no project folder was given`,
        "validate the file with its project folder",
      );
      continue;
    }
    const r = ctx.files.read(rel);
    if (!r.ok) {
      if (r.missing && !ref.required) continue;
      ctx.problems.error(
        ref.node.pos,
        ref.at,
        r.missing ? `${what} ${ref.path} does not exist` : r.message,
        r.missing
          ? what === "env_file"
            ? "create it, or mark it optional: - { path: FILE, required: false }"
            : "create it, or write the labels under labels:"
          : undefined,
      );
      continue;
    }
    const parsed = parseDotenv(r.text, { file: rel, raw: ref.raw, lookup: (k) => ctx.variables.get(k) });
    for (const p of parsed.problems) ctx.problems.error(p.pos, ref.at, p.message, p.hint);
    out.push(...parsed.values);
  }
  return out;
}
