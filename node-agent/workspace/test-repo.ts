// Test helper: a repository on disk from a map of files.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

export function repo(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "berth-ws-"));
  for (const [p, c] of Object.entries(files)) write(dir, p, c);
  return dir;
}

export function write(dir: string, path: string, content: string): void {
  mkdirSync(dirname(join(dir, path)), { recursive: true });
  writeFileSync(join(dir, path), content);
}
