import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  rmSync,
  watch,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { writeFileAtomic } from "../../lib/atomic-write";
import {
  ChannelObjectTooLargeError,
  type GetOptions,
  MAX_CHANNEL_OBJECT_BYTES,
  MAX_LISTED_KEYS,
} from "./limits";
import type { ChannelStore } from "./store";

/**
 * A release channel kept in a folder: each key a file, written atomically. What a channel writer
 * may have put there is read with care: no symbolic link is followed (in the key's path or in a
 * listing), only the listed prefix's folder is walked, only regular files are read (a FIFO would
 * block), and objects and listings have a size cap (limits.ts).
 */
export class FolderChannelStore implements ChannelStore {
  readonly url: string;

  constructor(readonly root: string) {
    this.url = `file://${root}`;
  }

  private parts(key: string): string[] {
    const parts = key.split("/");
    if (parts.some((part) => part === ".." || part === "." || part === "")) {
      throw new Error(`invalid channel key ${JSON.stringify(key)}`);
    }
    return parts;
  }

  private path(key: string): string {
    return join(this.root, ...this.parts(key));
  }

  /**
   * Whether the folders on the way to `parts` (below the root) are real folders: false when one
   * is missing; throws when one is a symbolic link or not a folder.
   */
  private folders(parts: readonly string[], key: string): boolean {
    let p = this.root;
    for (const part of parts) {
      p = join(p, part);
      let st: ReturnType<typeof lstatSync>;
      try {
        st = lstatSync(p);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
        throw e;
      }
      if (st.isSymbolicLink())
        throw new Error(`channel key ${key}: ${p} is a symbolic link, which the channel never follows`);
      if (!st.isDirectory()) throw new Error(`channel key ${key}: ${p} is not a folder`);
    }
    return true;
  }

  async get(key: string, o: GetOptions = {}): Promise<string | undefined> {
    const max = o.maxBytes ?? MAX_CHANNEL_OBJECT_BYTES;
    const parts = this.parts(key);
    if (!this.folders(parts.slice(0, -1), key)) return undefined;
    const p = this.path(key);
    let fd: number;
    try {
      // O_NOFOLLOW: a symbolic link is refused (ELOOP); O_NONBLOCK: a FIFO does not block the open.
      fd = openSync(p, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return undefined;
      if (code === "ELOOP")
        throw new Error(`channel object ${key} is a symbolic link, which the channel never follows`);
      throw e;
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw new Error(`channel object ${key} is not a regular file`);
      if (st.size > max) throw new ChannelObjectTooLargeError(key, st.size, max);
      // Read at most max + 1 bytes: a file that grew since fstat is still bounded.
      const buf = Buffer.allocUnsafe(Math.min(max + 1, Math.max(st.size, 0) + 1));
      let n = 0;
      for (;;) {
        if (n === buf.length) break;
        const r = readSync(fd, buf, n, buf.length - n, null);
        if (r === 0) break;
        n += r;
      }
      if (n > max) throw new ChannelObjectTooLargeError(key, n, max);
      return buf.subarray(0, n).toString("utf8");
    } finally {
      closeSync(fd);
    }
  }

  async put(key: string, body: string | Buffer): Promise<void> {
    const parts = this.parts(key);
    this.folders(parts.slice(0, -1), key);
    const p = this.path(key);
    mkdirSync(dirname(p), { recursive: true, mode: 0o755 });
    writeFileAtomic(p, body, 0o644);
  }

  /**
   * The keys under `prefix`, sorted. Walks only the prefix's folder (never the whole channel),
   * skips symbolic links and anything that is not a file or a folder, and stops with an error
   * past MAX_LISTED_KEYS entries.
   */
  async list(prefix: string): Promise<string[]> {
    const cut = prefix.lastIndexOf("/");
    const dirParts = cut < 0 ? [] : prefix.slice(0, cut).split("/").filter(Boolean);
    if (dirParts.some((p) => p === ".." || p === "."))
      throw new Error(`invalid channel prefix ${JSON.stringify(prefix)}`);
    if (!this.folders(dirParts, prefix)) return [];
    const out: string[] = [];
    let seen = 0;
    const walk = (dir: string, keyPrefix: string) => {
      for (const d of readdirSync(dir, { withFileTypes: true })) {
        if (d.name.startsWith(".")) continue;
        if (++seen > MAX_LISTED_KEYS)
          throw new Error(
            `the channel folder under ${prefix} holds more than ${MAX_LISTED_KEYS} entries: not listed (a channel writer's junk?)`,
          );
        const key = `${keyPrefix}${d.name}`;
        if (d.isDirectory()) walk(join(dir, d.name), `${key}/`);
        else if (d.isFile() && key.startsWith(prefix)) out.push(key);
      }
    };
    walk(join(this.root, ...dirParts), dirParts.length > 0 ? `${dirParts.join("/")}/` : "");
    return out.filter((k) => k.startsWith(prefix)).sort();
  }

  async delete(key: string): Promise<void> {
    const parts = this.parts(key);
    if (!this.folders(parts.slice(0, -1), key)) return;
    rmSync(this.path(key), { force: true });
  }

  /**
   * Watches the key's folder (made when missing): the node writes a status as a new file renamed
   * into place, one event here. A folder that cannot be watched only means polling.
   */
  watch(key: string, onChange: () => void): () => void {
    const p = this.path(key);
    const name = basename(p);
    try {
      mkdirSync(dirname(p), { recursive: true, mode: 0o755 });
      const watcher = watch(dirname(p), (_event, file) => {
        if (!file || file === name) onChange();
      });
      watcher.on("error", () => watcher.close());
      return () => watcher.close();
    } catch {
      return () => {};
    }
  }
}
