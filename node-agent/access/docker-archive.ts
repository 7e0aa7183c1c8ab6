// A file written into a workspace the way `docker cp` writes one: a one-file tar streamed to the
// Engine API's archive endpoint (PUT /containers/{id}/archive), which dockerd extracts itself.
// The bytes go agent → dockerd, with no docker CLI, shim or `cat` process between them, and the
// upload keeps docker cp's pace. The file belongs to the remote user (the tar header's uid and
// gid, copyUIDGID); the caller checks first, as that user, that it may write there.
import { type ClientRequest, request } from "node:http";
import { posix } from "node:path";

const API = "/v1.45";
const BLOCK = 512;
/** The ustar size field: 11 octal digits. Larger files take the exec path. */
export const MAX_TAR_FILE_BYTES = 8 * 1024 ** 3 - 1;

export interface TarEntry {
  /** The file's name inside the folder it is extracted to (at most 100 bytes). */
  name: string;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  mtime?: number;
}

/** Whether an entry fits one plain ustar header. */
export function fitsUstar(name: string, size: number): boolean {
  return Buffer.byteLength(name) <= 100 && !name.includes("/") && size >= 0 && size <= MAX_TAR_FILE_BYTES;
}

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, "0")}\0`;
}

/** The 512-byte ustar header of one regular file. */
export function tarHeader(e: TarEntry): Buffer {
  if (!fitsUstar(e.name, e.size)) throw new Error(`${e.name}: does not fit a ustar header`);
  const h = Buffer.alloc(BLOCK, 0);
  h.write(e.name, 0, 100, "utf8");
  h.write(octal(e.mode & 0o7777, 8), 100, 8, "ascii");
  h.write(octal(e.uid, 8), 108, 8, "ascii");
  h.write(octal(e.gid, 8), 116, 8, "ascii");
  h.write(octal(e.size, 12), 124, 12, "ascii");
  h.write(octal(Math.floor(e.mtime ?? Date.now() / 1000), 12), 136, 12, "ascii");
  h.write("        ", 148, 8, "ascii");
  h.write("0", 156, 1, "ascii");
  h.write("ustar\0", 257, 6, "ascii");
  h.write("00", 263, 2, "ascii");
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8, "ascii");
  return h;
}

/** What follows the file's bytes: the padding to a block, then the two empty end blocks. */
export function tarTrailer(size: number): Buffer {
  const pad = (BLOCK - (size % BLOCK)) % BLOCK;
  return Buffer.alloc(pad + 2 * BLOCK, 0);
}

/** An absolute path inside the container: relative ones are inside the working tree. */
export function containerPath(folder: string, path: string): { dir: string; name: string } {
  const abs = posix.resolve(folder, path);
  return { dir: posix.dirname(abs), name: posix.basename(abs) };
}

/**
 * `sh -c` as the remote user: the folder exists and is writable, the file is absent or writable
 * and not a folder; prints the user's uid and gid.
 */
export const writeCheckCommand = (dir: string, name: string) => [
  "sh",
  "-c",
  'cd -- "$1" 2>/dev/null || { echo "no folder $1" >&2; exit 1; }; [ -w . ] || { echo "$1 is not writable" >&2; exit 1; }; if [ -d "$2" ] || { [ -e "$2" ] && [ ! -w "$2" ]; }; then echo "$1/$2 is not a writable file" >&2; exit 1; fi; id -u; id -g',
  "berth-write-check",
  dir,
  name,
];

/** The Engine API's path that extracts a tar into `dir`, files owned as the tar says. */
export function putArchivePath(container: string, dir: string): string {
  return `${API}/containers/${encodeURIComponent(container)}/archive?path=${encodeURIComponent(dir)}&copyUIDGID=1&noOverwriteDirNonDir=1`;
}

/**
 * The raw request head of a PUT of a `length`-byte tar into `dir` (for a process that writes it
 * on the engine's socket itself).
 */
export function putArchiveHead(container: string, dir: string, length: number): string {
  return `PUT ${putArchivePath(container, dir)} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/x-tar\r\nContent-Length: ${length}\r\nConnection: close\r\n\r\n`;
}

/**
 * The raw request of a GET of `path`'s archive as HTTP/1.0: dockerd (Go's server) then sends the
 * tar as it is, without chunked framing, and closes the connection at its end.
 */
export function getArchiveRequest(container: string, path: string): string {
  return `GET ${API}/containers/${encodeURIComponent(container)}/archive?path=${encodeURIComponent(path)} HTTP/1.0\r\nHost: docker\r\n\r\n`;
}

/**
 * `sh -c` as the remote user: `path` exists, is not a folder and is readable; prints the path
 * with every link resolved, `file` when it is a regular file that is not empty (else `other`: a
 * device, a pipe, or a file such as /proc's whose size says nothing), the user's uid, then their
 * groups. The errors name the path as the client gave it.
 */
export const readCheckCommand = (path: string) => [
  "sh",
  "-c",
  'if [ ! -e "$1" ]; then echo "$1: no such file" >&2; exit 1; fi; if [ -d "$1" ]; then echo "$1 is a folder, not a file" >&2; exit 1; fi; if [ ! -r "$1" ]; then echo "$1: permission denied (not readable by $(id -un))" >&2; exit 1; fi; readlink -f -- "$1" || exit 1; if [ -f "$1" ] && [ -s "$1" ]; then echo file; else echo other; fi; id -u; id -G',
  "berth-read-check",
  path,
];

/**
 * Streams a tar into the container's folder `dir`. `feed` writes the tar's bytes into the request
 * (with backpressure) and ends it; resolves when dockerd has extracted it.
 */
export function putArchive(
  socketPath: string,
  container: string,
  dir: string,
  length: number,
  feed: (req: ClientRequest) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath,
        method: "PUT",
        path: putArchivePath(container, dir),
        headers: { "content-type": "application/x-tar", "content-length": length },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          text += c;
        });
        res.on("end", () => {
          if ((res.statusCode ?? 500) < 300) resolve();
          else {
            let message = text.trim();
            try {
              message = (JSON.parse(text) as { message?: string }).message ?? message;
            } catch {}
            reject(new Error(`the engine refused the file (${res.statusCode}): ${message}`));
          }
        });
      },
    );
    req.on("error", reject);
    feed(req);
  });
}
