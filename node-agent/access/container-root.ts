// A workspace container's root folder, opened by the agent for the splice relay (splice-relay.ts),
// which walks a copy's path from it as the remote user. `/proc/<pid>/root` of the container's
// first process is the container's root as its processes see it, its mounts (the working tree,
// the home volume) included. A pid may be reused once its process is gone, so the container is
// asked before and after the open: the same first process, the same start, still running. Its
// first process was then that pid the whole time, and the folder opened is the container's.
//
// The remote user's ids come from inside the container (the check's `id`); a container in a user
// namespace (dockerd's userns-remap) has other ids on the node, read from /proc/<pid>/uid_map
// and gid_map. An id the map does not hold is refused.
import { type FileHandle, open, readFile } from "node:fs/promises";
import { inspectContainerJson } from "./docker-api";

/** One line of /proc/<pid>/uid_map: ids inside from `inside`, `count` of them, from `outside`. */
export interface IdRange {
  inside: number;
  outside: number;
  count: number;
}

/** Parses a uid_map or gid_map (pure). */
export function parseIdMap(text: string): IdRange[] {
  const ranges: IdRange[] = [];
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length !== 3) continue;
    const [inside, outside, count] = f.map(Number) as [number, number, number];
    if ([inside, outside, count].every((n) => Number.isSafeInteger(n) && n >= 0))
      ranges.push({ inside, outside, count });
  }
  return ranges;
}

/** `id` (inside the container) as the node sees it, or undefined when the map does not hold it. */
export function mapId(ranges: readonly IdRange[], id: number): number | undefined {
  const r = ranges.find((x) => id >= x.inside && id < x.inside + x.count);
  return r ? r.outside + (id - r.inside) : undefined;
}

/** What the engine says of a container's first process (pure: from its inspect answer). */
export function firstProcessOf(inspectJson: string): { pid: number; startedAt: string } | undefined {
  const [c] = JSON.parse(inspectJson) as {
    State?: { Running?: boolean; Pid?: number; StartedAt?: string };
  }[];
  const s = c?.State;
  if (!s?.Running || !Number.isInteger(s.Pid) || (s.Pid ?? 0) <= 0 || typeof s.StartedAt !== "string")
    return undefined;
  return { pid: s.Pid as number, startedAt: s.StartedAt };
}

export interface ContainerRoot {
  /** The open root folder (the caller closes it). */
  handle: FileHandle;
  /** The remote user's ids, inside the container, as the node sees them. */
  uid(id: number): number;
  gid(id: number): number;
}

/**
 * Opens the running container `container`'s root folder (see above); throws saying why not.
 * `inspect` is the engine's answer for a container (tests pass their own).
 */
export async function openContainerRoot(
  socketPath: string,
  container: string,
  inspect: (socketPath: string, id: string) => Promise<string> = inspectContainerJson,
): Promise<ContainerRoot> {
  const before = firstProcessOf(await inspect(socketPath, container));
  if (!before) throw new Error(`container ${container.slice(0, 12)} is not running`);
  const handle = await open(`/proc/${before.pid}/root`, "r");
  try {
    const [uids, gids] = await Promise.all(
      ["uid_map", "gid_map"].map(async (f) => parseIdMap(await readFile(`/proc/${before.pid}/${f}`, "utf8"))),
    );
    const after = firstProcessOf(await inspect(socketPath, container));
    if (after?.pid !== before.pid || after.startedAt !== before.startedAt)
      throw new Error(`container ${container.slice(0, 12)} stopped or restarted while its files were opened`);
    const mapped = (ranges: IdRange[], kind: string) => (id: number) => {
      const out = mapId(ranges, id);
      if (out === undefined) throw new Error(`${kind} ${id} of the container has no id on the node`);
      return out;
    };
    return { handle, uid: mapped(uids as IdRange[], "uid"), gid: mapped(gids as IdRange[], "gid") };
  } catch (e) {
    await handle.close();
    throw e;
  }
}
