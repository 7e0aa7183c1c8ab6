// services.*.volumes: named volumes only. Bind mounts in any syntax are refused: `/x`, `./x`,
// `~/x`, `C:\x`, a variable that expands to a path, and the long syntax `type: bind`. The
// Docker socket gets its own message (reported by the socket scan, see socket.ts).
import * as posix from "node:path/posix";
import { NAME_PATTERN } from "../manifest/patterns";
import type { VolumeMount } from "../manifest/schema";
import type { Path } from "./problem";
import { asBool, asText, type Ctx, checkKeys } from "./read";
import { mentionsDockerSocket } from "./remote";
import { entry, type YNode } from "./tree";

const NAMED_VOLUME_HINT = "use a named volume declared under top-level volumes:, e.g. data:/var/lib/app";

/** Splits `SOURCE:TARGET[:MODE]`, keeping a Windows drive letter (`C:\x`) in the source. */
export function splitShort(s: string): string[] {
  const drive = /^[A-Za-z]:[\\/]/.test(s) ? s.slice(0, 2) : "";
  const parts = s.slice(drive.length).split(":");
  if (drive && parts.length > 0) parts[0] = drive + (parts[0] ?? "");
  return parts;
}

function looksLikePath(source: string): boolean {
  return (
    /[/\\]/.test(source) || source.startsWith(".") || source.startsWith("~") || /^[A-Za-z]:/.test(source)
  );
}

export interface MountContext {
  ctx: Ctx;
  /** Top-level volume names. */
  declared: ReadonlySet<string>;
}

function bindProblem(m: MountContext, node: YNode, path: Path, source: string): void {
  if (mentionsDockerSocket(source)) return; // the socket scan reports it
  const raw = node.kind === "scalar" ? node.raw : undefined;
  const via = raw?.includes("$") ? `: the variable in ${JSON.stringify(raw)} expands to it` : "";
  m.ctx.problems.error(
    node.pos,
    path,
    `bind mounts are not allowed: ${source} is a path on the host${via}`,
    NAMED_VOLUME_HINT,
  );
}

function checkSource(m: MountContext, node: YNode, path: Path, source: string): boolean {
  if (!NAME_PATTERN.test(source)) {
    m.ctx.problems.error(node.pos, path, `${JSON.stringify(source)} is not a volume name`, NAMED_VOLUME_HINT);
    return false;
  }
  if (!m.declared.has(source)) {
    m.ctx.problems.error(
      node.pos,
      path,
      `volume ${source} is not declared under top-level volumes:`,
      `add it: volumes: { ${source}: {} } at the top level`,
    );
    return false;
  }
  return true;
}

function checkTarget(m: MountContext, node: YNode, path: Path, target: string): boolean {
  if (!target.startsWith("/")) {
    m.ctx.problems.error(
      node.pos,
      path,
      `the mount target ${JSON.stringify(target)} must be an absolute path in the container`,
    );
    return false;
  }
  return true;
}

function short(m: MountContext, node: YNode, path: Path, s: string): VolumeMount | undefined {
  const parts = splitShort(s);
  if (parts.length === 1) {
    m.ctx.problems.error(
      node.pos,
      path,
      `anonymous volumes are not supported: ${s} has no volume name`,
      `name it: data:${s}, and declare data under top-level volumes:`,
    );
    return undefined;
  }
  const [source = "", target = "", mode, ...extra] = parts;
  if (looksLikePath(source) || source === "") {
    bindProblem(m, node, path, source);
    return undefined;
  }
  if (extra.length > 0) {
    m.ctx.problems.error(node.pos, path, `${JSON.stringify(s)} is not SOURCE:TARGET[:MODE]`);
    return undefined;
  }
  let readOnly = false;
  if (mode !== undefined) {
    const modes = mode.split(",");
    for (const md of modes) {
      if (md === "ro") readOnly = true;
      else if (md !== "rw") {
        m.ctx.problems.error(
          node.pos,
          path,
          `volume mode ${JSON.stringify(md)} is not supported`,
          "use ro or rw",
        );
        return undefined;
      }
    }
  }
  const ok = checkSource(m, node, path, source) && checkTarget(m, node, path, target);
  return ok ? { source, target: posix.normalize(target), readOnly } : undefined;
}

function long(m: MountContext, node: YNode & { kind: "map" }, path: Path): VolumeMount | undefined {
  const { ctx } = m;
  const t = entry(node, "type");
  const type = t ? asText(ctx, t.value, [...path, "type"], "mount type") : undefined;
  const src = entry(node, "source");
  const source = src ? asText(ctx, src.value, [...path, "source"], "mount source") : undefined;
  if (type === "bind") {
    if (!(source && mentionsDockerSocket(source))) {
      ctx.problems.error(
        t?.value.pos ?? node.pos,
        [...path, "type"],
        `bind mounts are not allowed${source ? `: ${source} is a path on the host` : ""}`,
        NAMED_VOLUME_HINT,
      );
    }
    return undefined;
  }
  if (type !== undefined && type !== "volume") {
    const hint =
      type === "tmpfs" ? "use a named volume, or the container's own filesystem" : NAMED_VOLUME_HINT;
    ctx.problems.error(
      t?.value.pos ?? node.pos,
      [...path, "type"],
      `mount type ${type} is not supported`,
      hint,
    );
    return undefined;
  }
  if (!t) {
    ctx.problems.error(node.pos, path, "a mount needs type: volume", "add type: volume");
    return undefined;
  }
  checkKeys(ctx, node, path, {
    accepted: ["type", "source", "target", "read_only", "volume"],
    rejected: {
      bind: { message: "bind options are not allowed: bind mounts are refused", hint: NAMED_VOLUME_HINT },
      tmpfs: { message: "tmpfs options do not apply to a volume", hint: "remove tmpfs:" },
    },
    known: ["consistency", "image"],
    what: "mount field",
  });
  const tg = entry(node, "target");
  const target = tg ? asText(ctx, tg.value, [...path, "target"], "mount target") : undefined;
  if (!tg) ctx.problems.error(node.pos, path, "a mount needs target:", "add target: /path/in/container");
  if (!src) {
    ctx.problems.error(
      node.pos,
      path,
      "anonymous volumes are not supported: the mount has no source",
      NAMED_VOLUME_HINT,
    );
  }
  const ro = entry(node, "read_only");
  const readOnly = ro ? asBool(ctx, ro.value, [...path, "read_only"], "read_only") : false;
  let subpath: string | undefined;
  const vol = entry(node, "volume");
  if (vol) {
    const vp = [...path, "volume"];
    if (vol.value.kind === "map") {
      checkKeys(ctx, vol.value, vp, {
        accepted: ["subpath"],
        known: ["nocopy", "labels"],
        what: "volume option",
      });
      const sp = entry(vol.value, "subpath");
      if (sp) {
        subpath = asText(ctx, sp.value, [...vp, "subpath"], "subpath");
        if (subpath !== undefined) {
          const n = posix.normalize(subpath);
          if (posix.isAbsolute(n) || n === ".." || n.startsWith("../")) {
            ctx.problems.error(
              sp.value.pos,
              [...vp, "subpath"],
              "subpath must be a relative path inside the volume",
            );
            return undefined;
          }
          subpath = n;
        }
      }
    } else if (!(vol.value.kind === "scalar" && vol.value.value === null)) {
      ctx.problems.error(vol.value.pos, vp, "volume options must be a mapping");
      return undefined;
    }
  }
  if (source === undefined || target === undefined || readOnly === undefined) return undefined;
  if (looksLikePath(source)) {
    bindProblem(m, src?.value ?? node, [...path, "source"], source);
    return undefined;
  }
  if (!checkSource(m, src?.value ?? node, [...path, "source"], source)) return undefined;
  if (!checkTarget(m, tg?.value ?? node, [...path, "target"], target)) return undefined;
  const out: VolumeMount = { source, target: posix.normalize(target), readOnly };
  if (subpath !== undefined) out.subpath = subpath;
  return out;
}

export function readMounts(m: MountContext, node: YNode, path: Path): VolumeMount[] {
  if (node.kind === "scalar" && node.value === null) return [];
  if (node.kind !== "seq") {
    m.ctx.problems.error(node.pos, path, "volumes must be a list");
    return [];
  }
  const out: VolumeMount[] = [];
  node.items.forEach((it, i) => {
    const p = [...path, i];
    let v: VolumeMount | undefined;
    if (it.kind === "map") v = long(m, it, p);
    else {
      const s = asText(m.ctx, it, p, "a volume");
      if (s !== undefined) v = short(m, it, p, s);
    }
    if (!v) return;
    if (out.some((o) => o.target === v.target)) {
      m.ctx.problems.error(it.pos, p, `two volumes are mounted at ${v.target}`, "mount each path once");
      return;
    }
    out.push(v);
  });
  return out;
}
