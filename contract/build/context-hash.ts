// A content hash of a build context: every file's path, mode and bytes, in sorted order. The
// `.git` folder and what the context's .dockerignore names plainly (a path or folder per line,
// `*` and `**` wildcards) are left out, like Docker leaves them out of the context it sends.
import { createHash } from "node:crypto";
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join, relative, sep } from "node:path";

function globToRegExp(pattern: string): RegExp {
  let p = pattern.replace(/^\/+/, "").replace(/\/+$/, "");
  p = p
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*\*/g, "\uE000")
    .replace(/\*/g, "[^/]*")
    .replace(/\?/g, "[^/]");
  // A leading `**/` also matches at the root, as Docker's does; elsewhere `**` spans folders.
  p = p.replace(/^\uE000\//, "(.*/)?").replace(/\uE000/g, ".*");
  return new RegExp(`^${p}(/.*)?$`);
}

export function dockerignoreMatcher(text: string): (path: string) => boolean {
  const rules = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) =>
      l.startsWith("!") ? { keep: true, re: globToRegExp(l.slice(1)) } : { keep: false, re: globToRegExp(l) },
    );
  return (path) => {
    let ignored = false;
    for (const r of rules) if (r.re.test(path)) ignored = !r.keep;
    return ignored;
  };
}

export function contextHash(context: string, dockerfile?: string): string {
  const h = createHash("sha256");
  const ignorePath = join(context, ".dockerignore");
  const ignored = existsSync(ignorePath)
    ? dockerignoreMatcher(readFileSync(ignorePath, "utf8"))
    : () => false;
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const full = join(dir, name);
      const rel = relative(context, full).split(sep).join("/");
      if (rel === ".git" || ignored(rel)) continue;
      const st = lstatSync(full);
      if (st.isDirectory()) walk(full);
      else if (st.isSymbolicLink()) h.update(`L ${rel} ${readlinkSync(full)}\n`);
      else if (st.isFile()) {
        h.update(`F ${rel} ${st.mode & 0o111 ? "x" : "-"} ${st.size}\n`);
        h.update(readFileSync(full));
      }
    }
  };
  walk(context);
  if (dockerfile && !dockerfile.startsWith("..")) h.update(`D ${dockerfile}\n`);
  return h.digest("hex");
}
