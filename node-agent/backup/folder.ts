// What a volume's folder holds, for the restore's "never overwrite newer data" rule.
import { existsSync, lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";

export interface FolderState {
  exists: boolean;
  /** No entries at all (or no folder). */
  empty: boolean;
  files: number;
  /** The newest modification time of anything inside, ms since the epoch. */
  newestMs: number;
}

export function inspectFolder(dir: string): FolderState {
  if (!existsSync(dir)) return { exists: false, empty: true, files: 0, newestMs: 0 };
  let files = 0;
  let newestMs = 0;
  // A live volume changes while it is read: what vanished meanwhile is skipped.
  const gone = (e: unknown) => (e as NodeJS.ErrnoException).code === "ENOENT";
  const walk = (d: string) => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch (e) {
      if (gone(e)) return;
      throw e;
    }
    for (const name of names) {
      const p = join(d, name);
      let st: ReturnType<typeof lstatSync>;
      try {
        st = lstatSync(p);
      } catch (e) {
        if (gone(e)) continue;
        throw e;
      }
      files++;
      if (st.mtimeMs > newestMs) newestMs = st.mtimeMs;
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return { exists: true, empty: files === 0, files, newestMs };
}
