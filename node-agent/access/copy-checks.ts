// `berth workspace cp`'s checks, run in the workspace's container as its remote user (in the kept
// shell, container-checker.ts): may that user write there, read that? They answer early, with a
// clear message, before a byte of the file moves, and they say where the path leads (its links
// resolved inside the container) and who the user is (uid, gid, groups). They decide nothing on
// their own: the splice relay (splice-relay.ts) then does the copy as that user, walking the
// resolved path without following a link, so the kernel answers again at the moment of the copy.
import { posix } from "node:path";

/** What an upload writes (the request's fields). */
export interface UploadPart {
  size: number;
  mode?: number;
  /** A part of a larger upload: where it starts, the whole file's size, the upload's id. */
  offset?: number;
  total?: number;
  upload?: string;
}

/** Why an upload's part fields do not fit together, or undefined when they do (pure). */
export function partProblem(r: UploadPart): string | undefined {
  const given = [r.offset, r.total, r.upload].filter((v) => v !== undefined).length;
  if (given === 0) return undefined;
  if (given !== 3) return "offset, total and upload come together (a part of an upload)";
  if ((r.offset as number) + r.size > (r.total as number))
    return `the part (${r.size} bytes from ${r.offset}) ends after the file's ${r.total} bytes`;
  if (r.size === 0 && r.total !== 0) return "a part of an upload holds at least one byte";
  return undefined;
}

/** An absolute path inside the container: relative ones are inside the working tree. */
export function containerPath(folder: string, path: string): { dir: string; name: string } {
  const abs = posix.resolve(folder, path);
  return { dir: posix.dirname(abs), name: posix.basename(abs) };
}

/**
 * `sh -c` as the remote user: the folder exists and is writable, the file is absent or writable
 * and not a folder; prints the folder with its links resolved, then the user's uid, gid and groups.
 */
export const writeCheckCommand = (dir: string, name: string) => [
  "sh",
  "-c",
  'cd -- "$1" 2>/dev/null || { echo "no folder $1" >&2; exit 1; }; [ -w . ] || { echo "$1 is not writable" >&2; exit 1; }; if [ -d "$2" ] || { [ -e "$2" ] && [ ! -w "$2" ]; }; then echo "$1/$2 is not a writable file" >&2; exit 1; fi; pwd -P; id -u; id -g; id -G',
  "berth-write-check",
  dir,
  name,
];

/**
 * `sh -c` as the remote user: `path` exists, is not a folder and is readable (a regular file is
 * opened to ask the kernel: a shell's `[ -r ]` reasons about mode bits and misses ACLs; a pipe or
 * a device is not opened); prints the path with every link resolved, `file` when it is a regular
 * file that is not empty (else `other`: a device, a pipe, or a file such as /proc's whose size says
 * nothing), the user's uid, gid, then their groups. The errors name the path as the client gave it.
 */
export const readCheckCommand = (path: string) => [
  "sh",
  "-c",
  'if [ ! -e "$1" ]; then echo "$1: no such file" >&2; exit 1; fi; if [ -d "$1" ]; then echo "$1 is a folder, not a file" >&2; exit 1; fi; if [ -f "$1" ]; then (: <"$1") 2>/dev/null; else [ -r "$1" ]; fi || { echo "$1: permission denied (not readable by $(id -un))" >&2; exit 1; }; readlink -f -- "$1" || exit 1; if [ -f "$1" ] && [ -s "$1" ]; then echo file; else echo other; fi; id -u; id -g; id -G',
  "berth-read-check",
  path,
];

/** The user a check printed (uid, gid, groups: three lines), or undefined when it is not that. */
export function checkedUser(
  lines: readonly string[],
): { uid: number; gid: number; groups: number[] } | undefined {
  const [uid = "", gid = "", groups = ""] = lines;
  if (!/^\d+$/.test(uid) || !/^\d+$/.test(gid) || !/^\d+( \d+)*$/.test(groups.trim())) return undefined;
  return { uid: Number(uid), gid: Number(gid), groups: groups.trim().split(" ").map(Number) };
}
