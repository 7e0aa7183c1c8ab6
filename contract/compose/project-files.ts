// The files of the project folder the loader may read at preview: `.env`, env_file, extends and
// include, secret and config files. The loader stays pure: it asks a ProjectFiles for text by a
// path relative to the project folder that it has already checked stays inside it. The disk
// reader is the one I/O here; it refuses what a symlink takes outside the folder, what is not a
// regular file, and what is bigger than the stated bound.
import * as fs from "node:fs";
import * as path from "node:path";

/** The most a project file may hold (a Compose file, .env, env_file, a secret or a config). */
export const MAX_PROJECT_FILE_BYTES = 1024 * 1024;

export type ReadResult = { ok: true; text: string } | { ok: false; missing: boolean; message: string };

export interface ProjectFiles {
  /** `rel`: POSIX path relative to the project folder, normalized, never starting with `..`. */
  read(rel: string): ReadResult;
}

/** Reads from a folder on disk. */
export function diskProjectFiles(root: string): ProjectFiles {
  let realRoot: string | undefined;
  return {
    read(rel: string): ReadResult {
      const abs = path.resolve(root, rel);
      try {
        realRoot ??= fs.realpathSync(root);
        const real = fs.realpathSync(abs);
        const inside = path.relative(realRoot, real);
        if (inside.startsWith("..") || path.isAbsolute(inside)) {
          return {
            ok: false,
            missing: false,
            message: `${rel} leads outside the project folder (a symlink to ${real})`,
          };
        }
        const st = fs.statSync(real);
        if (!st.isFile()) return { ok: false, missing: false, message: `${rel} is not a regular file` };
        if (st.size > MAX_PROJECT_FILE_BYTES) {
          return {
            ok: false,
            missing: false,
            message: `${rel} is ${st.size} bytes, over the ${MAX_PROJECT_FILE_BYTES} bytes a project file may hold`,
          };
        }
        return { ok: true, text: fs.readFileSync(real, "utf8") };
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === "ENOENT" || code === "ENOTDIR")
          return { ok: false, missing: true, message: `${rel} does not exist` };
        return { ok: false, missing: false, message: `${rel} could not be read: ${(e as Error).message}` };
      }
    },
  };
}

/** Files held in memory (tests, and callers that read the folder themselves). */
export function memoryProjectFiles(files: Readonly<Record<string, string>>): ProjectFiles {
  return {
    read(rel: string): ReadResult {
      const text = Object.hasOwn(files, rel) ? files[rel] : undefined;
      if (text === undefined) return { ok: false, missing: true, message: `${rel} does not exist` };
      if (Buffer.byteLength(text) > MAX_PROJECT_FILE_BYTES) {
        return {
          ok: false,
          missing: false,
          message: `${rel} is ${Buffer.byteLength(text)} bytes, over the ${MAX_PROJECT_FILE_BYTES} bytes a project file may hold`,
        };
      }
      return { ok: true, text };
    },
  };
}
