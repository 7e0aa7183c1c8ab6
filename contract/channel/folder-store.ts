import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { writeFileAtomic } from "../../lib/atomic-write";
import type { ChannelStore } from "./store";

/** A release channel kept in a folder: each key a file, written atomically. */
export class FolderChannelStore implements ChannelStore {
  readonly url: string;

  constructor(readonly root: string) {
    this.url = `file://${root}`;
  }

  private path(key: string): string {
    if (key.split("/").some((part) => part === ".." || part === "." || part === "")) {
      throw new Error(`invalid channel key ${JSON.stringify(key)}`);
    }
    return join(this.root, ...key.split("/"));
  }

  async get(key: string): Promise<string | undefined> {
    const p = this.path(key);
    return existsSync(p) ? readFileSync(p, "utf8") : undefined;
  }

  async put(key: string, body: string): Promise<void> {
    const p = this.path(key);
    mkdirSync(dirname(p), { recursive: true, mode: 0o755 });
    writeFileAtomic(p, body, 0o644);
  }

  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    const walk = (dir: string) => {
      if (!existsSync(dir)) return;
      for (const name of readdirSync(dir)) {
        if (name.startsWith(".")) continue;
        const p = join(dir, name);
        if (statSync(p).isDirectory()) walk(p);
        else out.push(relative(this.root, p).split(sep).join("/"));
      }
    };
    walk(this.root);
    return out.filter((k) => k.startsWith(prefix)).sort();
  }

  async delete(key: string): Promise<void> {
    rmSync(this.path(key), { force: true });
  }
}
