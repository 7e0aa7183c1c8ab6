// What a workspace leaves on the node's own disk, handled so a branch cannot turn it against the
// node: Docker configs that hold a registry login only while their command runs, and the clone
// handed to the container's user without following a link the container may have planted.
import {
  closeSync,
  constants,
  existsSync,
  fchownSync,
  lchownSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { dockerConfigJson } from "../apply/registry-auth";

const PREFIX = "docker-config-";

/**
 * Runs `fn` with a Docker config folder of its own (DOCKER_CONFIG) that holds `logins` (none: an
 * empty one, so the agent's own ~/.docker is never read), removed when `fn` settles.
 */
export async function withDockerConfig<T>(
  parent: string,
  logins: Record<string, { username: string; password: string }>,
  fn: (env: { DOCKER_CONFIG: string }) => Promise<T>,
): Promise<T> {
  const dir = mkdtempSync(join(parent, PREFIX));
  try {
    if (Object.keys(logins).length > 0)
      writeFileSync(join(dir, "config.json"), dockerConfigJson(logins), { mode: 0o600 });
    return await fn({ DOCKER_CONFIG: dir });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Docker configs an agent that died left in its workspaces' folders (run at the daemon's start). */
export function removeLeftoverDockerConfigs(workspacesDir: string): string[] {
  if (!existsSync(workspacesDir)) return [];
  const removed: string[] = [];
  for (const ws of readdirSync(workspacesDir, { withFileTypes: true })) {
    if (!ws.isDirectory()) continue;
    for (const e of readdirSync(join(workspacesDir, ws.name))) {
      if (!e.startsWith(PREFIX)) continue;
      const p = join(workspacesDir, ws.name, e);
      rmSync(p, { recursive: true, force: true });
      removed.push(p);
    }
  }
  return removed;
}

/**
 * chown -R that never follows a symbolic link, even one swapped in while it runs (the clone is
 * bound into a running container, whose root can replace a folder by a link to /etc): each
 * folder is opened with O_NOFOLLOW and its entries are reached through that descriptor
 * (/proc/self/fd/N/name), so a name resolves inside the folder that was opened, and links
 * themselves are changed with lchown.
 */
export function chownTree(dir: string, uid: number, gid: number): void {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  try {
    fchownSync(fd, uid, gid);
    const here = `/proc/self/fd/${fd}`;
    for (const d of readdirSync(here, { withFileTypes: true })) {
      const p = `${here}/${d.name}`;
      if (!d.isDirectory()) {
        lchownSync(p, uid, gid);
        continue;
      }
      try {
        chownTree(p, uid, gid);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        // Swapped for a link (or a file) since it was listed: change the link itself.
        if (code === "ELOOP" || code === "ENOTDIR") lchownSync(p, uid, gid);
        else throw e;
      }
    }
  } finally {
    closeSync(fd);
  }
}
