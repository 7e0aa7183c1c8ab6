// services.*.build: the context must be a folder inside the project (no `..` escape, no absolute
// path elsewhere, no URL or git context); dockerfile, args and target.
import * as posix from "node:path/posix";
import type { Build } from "../manifest/schema";
import { readLabels } from "./labels";
import type { Path } from "./problem";
import { asName, asText, asTextList, type Ctx, checkKeys, listOrDict, setKey } from "./read";
import { isRemote } from "./remote";
import { platformMatches, platformProblem } from "./runtime";
import { entry, type YNode } from "./tree";

const ACCEPTED = [
  "context",
  "dockerfile",
  "dockerfile_inline",
  "args",
  "target",
  "platforms",
  "labels",
  "additional_contexts",
];
const KNOWN = [
  "dockerfile_inline",
  "entitlements",
  "ssh",
  "labels",
  "cache_from",
  "cache_to",
  "no_cache",
  "additional_contexts",
  "network",
  "provenance",
  "sbom",
  "pull",
  "target",
  "shm_size",
  "extra_hosts",
  "isolation",
  "privileged",
  "secrets",
  "tags",
  "ulimits",
  "platforms",
];

const REJECTED = {
  privileged: { message: "privileged builds are not allowed", hint: "remove build.privileged" },
  entitlements: { message: "build entitlements are not allowed", hint: "remove build.entitlements" },
  ssh: {
    message: "build.ssh forwards the deploying machine's SSH agent and is not supported",
    hint: "remove build.ssh",
  },
  secrets: { message: "build secrets are not supported", hint: "remove build.secrets" },
  network: { message: "build.network is not supported", hint: "remove build.network" },
  cache_from: { message: "cache_from is not supported: berth manages the build cache", hint: "remove it" },
  cache_to: { message: "cache_to is not supported: berth manages the build cache", hint: "remove it" },
  tags: { message: "build.tags is not supported: berth tags what it builds", hint: "remove it" },
};

/** Resolves a path written in the file against `base` (relative to the project); undefined if it leaves the project. */
export function insideProject(projectDir: string, base: string, p: string): string | undefined {
  const abs = posix.isAbsolute(p);
  let rel: string;
  if (abs) {
    if (!posix.isAbsolute(projectDir)) return undefined;
    rel = posix.relative(posix.normalize(projectDir), posix.normalize(p));
    if (posix.isAbsolute(rel)) return undefined;
  } else {
    rel = posix.normalize(posix.join(base, p));
  }
  if (rel === "" || rel === "./") return ".";
  rel = rel.replace(/\/+$/, "");
  if (rel === ".." || rel.startsWith("../")) return undefined;
  return rel;
}

function context(ctx: Ctx, node: YNode, path: Path): string | undefined {
  const c = asText(ctx, node, path, "build context");
  if (c === undefined) return undefined;
  if (c.trim() === "") {
    ctx.problems.error(
      node.pos,
      path,
      "the build context is empty",
      "write a folder inside the project, e.g. .",
    );
    return undefined;
  }
  if (isRemote(c)) {
    ctx.problems.error(
      node.pos,
      path,
      `a remote build context (${c}) is not allowed: berth builds from the project folder only`,
      "clone the sources into a folder of the project and point context: to it",
    );
    return undefined;
  }
  if (c.includes("\\")) {
    ctx.problems.error(
      node.pos,
      path,
      `the build context ${JSON.stringify(c)} has backslashes`,
      "write paths with /",
    );
    return undefined;
  }
  if (c.startsWith("~")) {
    ctx.problems.error(
      node.pos,
      path,
      `the build context ${c} is in a home folder, outside the project`,
      "use a folder inside the project",
    );
    return undefined;
  }
  const rel = insideProject(ctx.projectDir, ".", c);
  if (rel === undefined) {
    ctx.problems.error(
      node.pos,
      path,
      `the build context ${c} is outside the project folder`,
      "use a folder inside the project, written relative to the Compose file (no ..)",
    );
  }
  return rel;
}

/**
 * additional_contexts: a folder inside the project, or `service:NAME` (another service's built
 * image). Remote sources and other registries' images are refused: berth builds from the project.
 */
function additionalContexts(ctx: Ctx, node: YNode, path: Path): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  let ok = true;
  for (const kv of listOrDict(ctx, node, path, "additional_contexts") ?? []) {
    const v = kv.value;
    if (kv.key === "") {
      ctx.problems.error(kv.pos, kv.path, "an additional context needs a name", "name it (NAME: SOURCE)");
      ok = false;
      continue;
    }
    if (v === null || v === "") {
      ctx.problems.error(
        kv.pos,
        kv.path,
        `additional context ${kv.key} has no source`,
        "name a folder of the project or service:NAME",
      );
      ok = false;
      continue;
    }
    if (v.startsWith("service:")) {
      setKey(out, kv.key, v);
      continue;
    }
    if (isRemote(v) || /^[a-z][a-z0-9+.-]*:\/\//.test(v)) {
      ctx.problems.error(
        kv.node.pos,
        kv.path,
        `additional context ${kv.key} (${v}) is not allowed: berth builds from the project folder and the file's own services only`,
        "copy what the build needs into the project folder, or build it as a service and name it service:NAME",
      );
      ok = false;
      continue;
    }
    const rel = v.includes("\\") ? undefined : insideProject(ctx.projectDir, ".", v);
    if (rel === undefined) {
      ctx.problems.error(
        kv.node.pos,
        kv.path,
        `additional context ${kv.key} (${v}) is outside the project folder`,
        "use a folder inside the project, written relative to the Compose file (no ..)",
      );
      ok = false;
      continue;
    }
    setKey(out, kv.key, rel);
  }
  return ok ? out : undefined;
}

export function readBuild(ctx: Ctx, node: YNode, path: Path): Build | undefined {
  if (node.kind === "scalar") {
    const c = context(ctx, node, path);
    return c === undefined ? undefined : { context: c, args: {} };
  }
  if (node.kind !== "map") {
    ctx.problems.error(node.pos, path, "build must be a context folder or a mapping with context:");
    return undefined;
  }
  checkKeys(ctx, node, path, { accepted: ACCEPTED, rejected: REJECTED, known: KNOWN, what: "build field" });
  const out: Build = { context: ".", args: {} };
  let ok = true;
  const c = entry(node, "context");
  if (c) {
    const v = context(ctx, c.value, [...path, "context"]);
    if (v === undefined) ok = false;
    else out.context = v;
  }
  const d = entry(node, "dockerfile");
  if (d) {
    const p = [...path, "dockerfile"];
    const f = asText(ctx, d.value, p, "dockerfile");
    if (f === undefined) ok = false;
    else if (f.trim() === "") {
      ctx.problems.error(d.value.pos, p, "dockerfile is empty", "name the Dockerfile, e.g. Dockerfile");
      ok = false;
    } else {
      const inProject = posix.isAbsolute(f) ? undefined : insideProject(ctx.projectDir, out.context, f);
      if (inProject === undefined || f.includes("\\")) {
        ctx.problems.error(
          d.value.pos,
          p,
          `the Dockerfile ${f} is outside the project folder`,
          "write its path relative to the build context, inside the project",
        );
        ok = false;
      } else {
        out.dockerfile = posix.normalize(f);
      }
    }
  }
  const a = entry(node, "args");
  if (a) {
    const kvs = listOrDict(ctx, a.value, [...path, "args"], "build args");
    if (kvs === undefined) ok = false;
    for (const kv of kvs ?? []) {
      if (kv.node.kind !== "scalar") {
        ctx.problems.error(kv.node.pos, kv.path, `build arg ${kv.key} must be a string`);
        ok = false;
        continue;
      }
      const v = kv.value ?? ctx.variables.get(kv.key);
      if (v === undefined) {
        ctx.problems.warn(
          kv.pos,
          kv.path,
          `build arg ${kv.key} has no value and no variable ${kv.key} was passed: the Dockerfile's default applies`,
        );
        continue;
      }
      setKey(out.args, kv.key, v);
    }
  }
  const t = entry(node, "target");
  if (t) {
    const v = asName(ctx, t.value, [...path, "target"], "build target");
    if (v === undefined) ok = false;
    else out.target = v;
  }
  const di = entry(node, "dockerfile_inline");
  if (di) {
    const p = [...path, "dockerfile_inline"];
    const text = asText(ctx, di.value, p, "dockerfile_inline");
    if (text === undefined) ok = false;
    else if (d) {
      ctx.problems.error(
        di.keyPos,
        p,
        "dockerfile and dockerfile_inline cannot both be given",
        "keep one of them",
      );
      ok = false;
    } else if (text.trim() === "") {
      ctx.problems.error(
        di.value.pos,
        p,
        "dockerfile_inline is empty",
        "write the Dockerfile's instructions",
      );
      ok = false;
    } else out.dockerfileInline = text;
  }
  const lb = entry(node, "labels");
  if (lb) out.labels = readLabels(ctx, lb.value, [...path, "labels"]);
  const ac = entry(node, "additional_contexts");
  if (ac) {
    const contexts = additionalContexts(ctx, ac.value, [...path, "additional_contexts"]);
    if (contexts === undefined) ok = false;
    else out.additionalContexts = contexts;
  }
  const pf = entry(node, "platforms");
  if (pf) {
    const p = [...path, "platforms"];
    const list = asTextList(ctx, pf.value, p, "build.platforms");
    if (list === undefined) ok = false;
    else {
      // The image is built for the node's platform only: another one could not run there.
      const other = list.find((x) => !platformMatches(x, ctx.platform));
      if (other !== undefined) {
        platformProblem(ctx, pf.value, p, other, ctx.platform);
        ok = false;
      } else if (list.length > 0) out.platforms = [ctx.platform];
    }
  }
  return ok ? out : undefined;
}
