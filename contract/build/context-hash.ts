// A content hash of a build context: every file's path, mode and bytes, in sorted order, of the
// files Docker sends. What the context's .dockerignore excludes is left out, matched the way
// Docker matches it (@balena/dockerignore, a port of Docker's own matcher: `./` and `/` prefixes
// cleaned, `[a-z]` classes, `\` escapes, `**`, `!` exceptions that re-include a file below an
// excluded folder). Nothing else is skipped: a `.git` folder is part of the context unless the
// file names it, as it is for Docker.
import { createHash } from "node:crypto";
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join, relative, sep } from "node:path";
import ignore from "@balena/dockerignore";

/** Whether a context path (relative, `/`-separated) is excluded by this .dockerignore text. */
export function dockerignoreMatcher(text: string): (path: string) => boolean {
  // Docker matches case-sensitively (Go's filepath.Match); the library ignores case unless told.
  const ig = ignore({ ignorecase: false }).add(text);
  return (path) => ig.ignores(path);
}

/** The files and symlinks of a context that Docker sends (relative, `/`-separated, sorted). */
export function contextFiles(context: string): string[] {
  const ignorePath = join(context, ".dockerignore");
  const text = existsSync(ignorePath) ? readFileSync(ignorePath, "utf8") : "";
  const ignored = dockerignoreMatcher(text);
  // Without `!` exceptions an excluded folder holds nothing that is sent: skip it whole.
  const descendIntoIgnored = text.split(/\r?\n/).some((l) => l.trim().startsWith("!"));
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const full = join(dir, name);
      const rel = relative(context, full).split(sep).join("/");
      if (lstatSync(full).isDirectory()) {
        if (!ignored(rel) || descendIntoIgnored) walk(full);
      } else if (!ignored(rel)) out.push(rel);
    }
  };
  walk(context);
  return out;
}

export function contextHash(context: string, dockerfile?: string): string {
  const h = createHash("sha256");
  for (const rel of contextFiles(context)) {
    const full = join(context, rel);
    const st = lstatSync(full);
    if (st.isSymbolicLink()) h.update(`L ${rel} ${readlinkSync(full)}\n`);
    else if (st.isFile()) {
      h.update(`F ${rel} ${st.mode & 0o111 ? "x" : "-"} ${st.size}\n`);
      h.update(readFileSync(full));
    }
  }
  if (dockerfile && !dockerfile.startsWith("..")) h.update(`D ${dockerfile}\n`);
  return h.digest("hex");
}
