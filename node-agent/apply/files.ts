// Compose secrets and configs on the node: the agent writes each file on a tmpfs of its own
// (`<root>/<node>/<env>/{secrets,configs}/<service>/<name>`, with the mode, uid and gid the file
// asks for) and Compose binds it read-only into the container (the rendered file names it under
// ${BERTH_FILES_DIR}). A secret so never touches the node's disk, and `docker inspect` shows the
// file's path, never its value (an environment variable would show it).
//
// Each write goes to a new file renamed into place: containers of the release still serving keep
// the file they were started with, new containers get the new one.
import { chmodSync, chownSync, mkdirSync, renameSync, statfsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { NodeExtras } from "../../contract/render/node-compose";
import { run } from "../../lib/process";

/** The agent's tmpfs for secret and config files. */
export const DEFAULT_FILES_ROOT = "/run/berth-files";
const TMPFS_MAGIC = 0x01021994;
const RAMFS_MAGIC = 0x858458f6;
/** The tmpfs's size: secrets and configs are small (each project file is at most 1 MiB). */
const TMPFS_SIZE = "64m";

export function onTmpfs(dir: string): boolean {
  const t = statfsSync(dir).type;
  return t === TMPFS_MAGIC || t === RAMFS_MAGIC;
}

/** Makes `root` a tmpfs when it is not one (the agent runs as root on a node). */
export async function ensureTmpfs(root: string): Promise<void> {
  mkdirSync(root, { recursive: true, mode: 0o700 });
  if (onTmpfs(root)) return;
  await run("mount", [
    "-t",
    "tmpfs",
    "-o",
    `mode=0700,size=${TMPFS_SIZE},nosuid,nodev,noexec`,
    "berth-files",
    root,
  ]);
  if (!onTmpfs(root))
    throw new Error(`${root} is not a tmpfs after mounting one: secrets would be written to disk`);
}

const SAFE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/**
 * Writes the release's secret and config files under `dir` (a folder on the tmpfs) and returns
 * it. `secrets`: the release's unsealed secrets, by name.
 */
export function writeNodeFiles(dir: string, extras: NodeExtras, secrets: Record<string, string>): void {
  for (const f of extras.files ?? []) {
    if (!SAFE.test(f.service) || !SAFE.test(f.name))
      throw new Error(`file ${f.service}/${f.name}: not a plain name`);
    const value = f.kind === "secret" ? secrets[f.secret ?? ""] : f.content;
    if (value === undefined) {
      throw new Error(`${f.kind} ${f.name} of service ${f.service}: the release carries no value for it`);
    }
    const folder = join(dir, `${f.kind}s`, f.service);
    mkdirSync(folder, { recursive: true, mode: 0o711 });
    const target = join(folder, f.name);
    const temp = `${target}.${process.pid}.${Date.now()}.tmp`;
    writeFileSync(temp, value, { mode: 0o600 });
    chownSync(temp, f.uid, f.gid);
    // chmod after chown (chown clears set-id bits); umask does not apply to chmod.
    chmodSync(temp, f.mode);
    renameSync(temp, target);
  }
}
