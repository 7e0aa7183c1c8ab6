// A workspace file's bytes moved between the client's socket and the file itself by the kernel, in
// a short-lived Python child: splice(2) from one into a pipe and from the pipe into the other, so
// no byte is copied into a process (node has no splice; Python has os.splice from 3.10, and every
// node has python3, which cloud-init itself runs on).
//
// The agent has checked the request before it starts this child (the token, the grant, the nonce,
// the container, the read or write check as the remote user in the container). What decides
// where the bytes go is this child, not that check: it gets the container's root folder as its
// descriptor 3 (container-root.ts), becomes the remote user (uid, gid and groups, for good:
// setgroups, setresgid, setresuid), and walks the path the check resolved one name at a time from
// that root with O_NOFOLLOW, so a folder swapped for a link since the check (to /etc, another
// user's home, /proc/…/root) stops the copy instead of leading it there, and every lookup, open,
// create and rename is the kernel's answer for that user: modes, parent folders and ACLs. No
// check-then-act is left between the check and the bytes. No engine, no tar, no process as root
// touches the file.
//
// The child gets no secret: its arguments (KEY=VALUE, relayArguments) hold paths, sizes, the
// user's ids and the answer head. It is Python's isolated mode (-I -S): no environment variable,
// user site or current folder changes what it runs; it imports only modules built into the
// interpreter.
//
// Upload: the request's socket (or a pipe the agent writes the body into) is its stdin. It
// splices exactly `size` bytes into `.berth-upload-<id>` beside the target, at the part's offset
// (the file must be a regular file of the user's own with one link; the last part must find
// exactly the bytes before it); the last part sets its mode and renames it over the target, so the
// target is whole or untouched. A failure removes that file. It writes nothing to the client: the agent answers when it exits
// (0: written, 1: what went wrong is on stderr).
//
// Download: the response's socket is its stdin. It opens the file as the user (O_NOFOLLOW), refuses
// anything but a regular file, writes the client's answer head with the open file's size and
// splices its bytes to the client. Exit 0: the whole answer went; 1: nothing was written to the
// client (the agent answers, stderr says why); 2: the answer's head went but not all of the file
// (the agent closes the connection: the client sees a body shorter than its length).
//
// Clean: stdin is nothing. It removes an upload's leftover `.berth-upload-<id>` files from the
// folder, as the user, following no link (upload-leftovers.ts says when): the names it removed on
// stdout, exit 0; 1 when the folder could not be reached (stderr says why).
import type { Socket } from "node:net";
import { run, type StreamingProcess, spawnStreaming } from "../../lib/process";

/** The node's own Python (Debian's; cloud-init runs on it). */
export const NODE_PYTHON = "/usr/bin/python3";

/** `python` when it runs and has os.splice (3.10 and later on Linux), else undefined. */
export async function findSplicePython(python = NODE_PYTHON): Promise<string | undefined> {
  const r = await run(python, ["-I", "-S", "-c", "import posix; posix.splice"], {
    allowFailure: true,
    timeoutMs: 10_000,
  }).catch(() => undefined);
  return r?.exitCode === 0 ? python : undefined;
}

/** The exit code of a download that wrote to the client and then failed. */
export const RELAY_CUT_SHORT = 2;

/** The Python program. Kept small: the agent checks the request; this, as the remote user, moves the bytes. */
export const SPLICE_RELAY_PY = String.raw`
# Only modules built into the interpreter: posix (not os), binascii (not base64), no json (the spec
# is KEY=VALUE arguments). socket, base64 and json import enum and re, which made up half of the
# relay's start (~10 ms of a copy's fixed cost, docs/benchmarks.md).
import binascii, errno, fcntl, posix, select, sys

spec = dict(a.partition("=")[::2] for a in sys.argv[1:])
IDLE = int(spec.get("idleSeconds", "0"))
CLIENT = 0
# The container's root folder, opened by the agent (node-agent/access/container-root.ts).
ROOT = 3
# The client's socket is shared with the agent, whose node wants it non-blocking; the spawn made
# it blocking (libuv does so for a child's stdio). Non-blocking, every wait below has its bound.
posix.set_blocking(CLIENT, False)
CHUNK = 1 << 20
idle_ms = IDLE * 1000
wrote_client = False


class Stop(Exception):
    pass


def waitfor(fd, events, what):
    p = select.poll()
    p.register(fd, events)
    if not p.poll(idle_ms):
        raise Stop("%s for %d s" % (what, IDLE))


def make_pipe():
    r, w = posix.pipe()
    try:
        fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, CHUNK)
    except OSError:
        pass
    return r, w


def write_client(data):
    global wrote_client
    view = memoryview(data)
    while view:
        try:
            n = posix.write(CLIENT, view)
        except BlockingIOError:
            waitfor(CLIENT, select.POLLOUT, "the client took nothing")
            continue
        wrote_client = True
        view = view[n:]


def move(src, dst, size, pr, pw, src_client):
    # size bytes from src to dst through the pipe; the client's side may be non-blocking.
    left = size
    while left > 0:
        try:
            n = posix.splice(src, pw, min(left, CHUNK), flags=posix.SPLICE_F_MOVE | posix.SPLICE_F_MORE)
        except BlockingIOError:
            waitfor(src, select.POLLIN, "no byte of the file came")
            continue
        if n == 0:
            raise Stop("the %s ended after %d of %d bytes" % ("upload" if src_client else "file", size - left, size))
        left -= n
        while n > 0:
            try:
                m = posix.splice(pr, dst, n, flags=posix.SPLICE_F_MOVE | (posix.SPLICE_F_MORE if left else 0))
            except BlockingIOError:
                waitfor(dst, select.POLLOUT, "the client took nothing")
                continue
            if not src_client:
                global wrote_client
                wrote_client = True
            n -= m


def become():
    # The remote user, for good: every lookup, open, create and rename below is the kernel's
    # decision for that user (modes, parent folders, ACLs), as for a process of theirs.
    uid, gid = int(spec["uid"]), int(spec["gid"])
    posix.setgroups([int(g) for g in spec["groups"].split(",") if g])
    posix.setresgid(gid, gid, gid)
    posix.setresuid(uid, uid, uid)


NOFOLLOW_DIR = posix.O_PATH | posix.O_DIRECTORY | posix.O_NOFOLLOW | posix.O_CLOEXEC


def walk(path, what):
    # The folder at the absolute, resolved path inside the container's root (descriptor ROOT),
    # one name at a time, following no link: a name that became a link (or anything but a
    # folder) since the check stops the copy here, so nothing is read or written through it.
    if not path.startswith("/"):
        raise Stop("%s: not an absolute path" % what)
    fd = ROOT
    for part in path.split("/"):
        if part == "":
            continue
        if part in (".", ".."):
            raise Stop("%s: not a resolved path" % what)
        try:
            nfd = posix.open(part, NOFOLLOW_DIR, dir_fd=fd)
        except OSError as e:
            raise Stop(refused(e, what))
        if fd != ROOT:
            posix.close(fd)
        fd = nfd
    return fd


def refused(e, what):
    if e.errno in (errno.EACCES, errno.EPERM):
        return "%s: permission denied (for %s)" % (what, spec["user"])
    if e.errno == errno.ENOENT:
        return "%s: no such file or folder" % what
    if e.errno in (errno.ELOOP, errno.ENOTDIR):
        return "%s: a folder on its path is a link or not a folder (changed since it was checked?): nothing %s" % (what, "removed" if spec["mode"] == "clean" else "copied")
    return "%s: %s" % (what, posix.strerror(e.errno))


S_IFMT, S_IFREG, S_IFDIR = 0o170000, 0o100000, 0o040000


def check_target(d, name, what):
    # The name to replace: not a folder, and writable by the user when it is a file.
    try:
        st = posix.stat(name, dir_fd=d, follow_symlinks=False)
    except FileNotFoundError:
        return
    if st.st_mode & S_IFMT == S_IFDIR:
        raise Stop("%s is a folder" % what)
    if st.st_mode & S_IFMT == S_IFREG and not posix.access(name, posix.W_OK, dir_fd=d, follow_symlinks=False):
        raise Stop("%s is not a writable file" % what)


def upload():
    # Into a file of the user's own beside the target (.berth-upload-ID): each part opens it (made
    # by whichever part comes first; the CLI sends the parts before the last two at a time) and
    # writes its bytes where they go in the file. It must be a regular file of this user's with
    # one link: a name another user planted, or a link, is refused. The last part, sent once all
    # the others landed, finds exactly the bytes before it, gives the file its mode and renames it
    # over the target: the target is whole or untouched. A failure removes the file.
    become()
    size, offset, total = int(spec["size"]), int(spec["offset"]), int(spec["total"])
    what, name, part = spec["target"], spec["name"], spec["partial"]
    last = offset + size == total
    d = walk(spec["dir"], what)
    check_target(d, name, what)
    try:
        f = posix.open(part, posix.O_WRONLY | posix.O_CREAT | posix.O_NOFOLLOW | posix.O_CLOEXEC, 0o600, dir_fd=d)
    except OSError as e:
        raise Stop(refused(e, what))
    try:
        st = posix.fstat(f)
        if st.st_mode & S_IFMT != S_IFREG or st.st_nlink != 1 or st.st_uid != posix.geteuid():
            raise Stop("%s: %s is not this upload's own file" % (what, part))
        if last and st.st_size != offset:
            raise Stop("%s: the upload's earlier parts hold %d bytes, not %d" % (what, st.st_size, offset))
        if offset:
            posix.lseek(f, offset, 0)
        pr, pw = make_pipe()
        move(CLIENT, f, size, pr, pw, True)
        if last:
            posix.fchmod(f, int(spec["fileMode"]))
            check_target(d, name, what)
            posix.rename(part, name, src_dir_fd=d, dst_dir_fd=d)
    except BaseException:
        try:
            posix.unlink(part, dir_fd=d)
        except OSError:
            pass
        raise


def download():
    # The file opened by the user (the kernel's answer, ACLs and parent folders included), no
    # link followed; its size read from the open file, then its bytes spliced to the client.
    become()
    what = spec["shown"]
    parent, _, name = spec["path"].rpartition("/")
    if not name or name in (".", ".."):
        raise Stop("%s: not a resolved path" % what)
    d = walk(parent or "/", what)
    try:
        f = posix.open(name, posix.O_RDONLY | posix.O_NOFOLLOW | posix.O_NONBLOCK | posix.O_NOCTTY | posix.O_CLOEXEC, dir_fd=d)
    except OSError as e:
        raise Stop(refused(e, what))
    st = posix.fstat(f)
    if st.st_mode & S_IFMT != S_IFREG:
        raise Stop("%s is not a regular file" % what)
    size = st.st_size
    write_client(binascii.a2b_base64(spec["clientHead"]) + b"content-length: %d\r\n\r\n" % size)
    pr, pw = make_pipe()
    move(f, CLIENT, size, pr, pw, False)


HEX = "0123456789abcdef"
LEFTOVER = ".berth-upload-"
# A hostile folder may hold any number of names: the sweep looks at this many at most.
SWEEP_NAMES = 100000


def leftover(n):
    # Exactly an upload's file name: the prefix and 32 hex digits (16 random bytes), nothing else.
    return len(n) == len(LEFTOVER) + 32 and n.startswith(LEFTOVER) and all(c in HEX for c in n[len(LEFTOVER):])


def clean():
    # An upload's leftover file removed, as the remote user, from the folder walked without
    # following a link: the names given (an upload that will not finish), and with before=T the
    # folder's other leftovers not written since T (an agent killed mid-upload). Only a name that
    # is exactly an upload's, a regular file of this user's with one link: a link named like one
    # is not followed (it is not even removed), another user's or root's file stays. What a name
    # could be swapped for between the look and the unlink is something this user could remove
    # anyway: the unlink is the kernel's answer for them, as for a process of theirs.
    become()
    d = walk(spec["dir"], spec["dir"])
    given = [n for n in spec["names"].split(",") if n]
    names = list(given)
    before = int(spec["before"])
    if before:
        lf = posix.open(".", posix.O_RDONLY | posix.O_DIRECTORY | posix.O_NOFOLLOW | posix.O_CLOEXEC, dir_fd=d)
        seen = 0
        with posix.scandir(lf) as entries:
            for e in entries:
                seen += 1
                if seen > SWEEP_NAMES:
                    break
                if leftover(e.name) and e.name not in given:
                    names.append(e.name)
        posix.close(lf)
    for n in names:
        if not leftover(n):
            continue
        try:
            st = posix.stat(n, dir_fd=d, follow_symlinks=False)
        except OSError:
            continue
        if st.st_mode & S_IFMT != S_IFREG or st.st_uid != posix.geteuid() or st.st_nlink != 1:
            continue
        if n not in given and st.st_mtime >= before:
            continue
        try:
            posix.unlink(n, dir_fd=d)
        except OSError:
            continue
        sys.stdout.write("%s\n" % n)
    sys.stdout.flush()


try:
    {"upload": upload, "download": download, "clean": clean}[spec["mode"]]()
except (Stop, OSError, ValueError, KeyError) as e:
    sys.stderr.write("%s\n" % e)
    sys.stderr.flush()
    posix._exit(2 if wrote_client else 1)
# Without the interpreter's teardown (~3 ms): nothing is buffered, the sockets close with the process.
posix._exit(0)
`;

/** The interpreter's flags: isolated (no PYTHON* variable, no user site, no current folder), no site. */
export const PYTHON_FLAGS = ["-I", "-S", "-c", SPLICE_RELAY_PY] as const;

/** Who the relay becomes before it touches the container's files (ids as the node sees them). */
export interface RemoteUser {
  /** The user's name, for messages. */
  user: string;
  uid: number;
  gid: number;
  groups: number[];
}

export interface SpliceUpload extends RemoteUser {
  mode: "upload";
  /** The folder, absolute and resolved inside the container (no link on it when checked). */
  dir: string;
  /** The file's name in that folder. */
  name: string;
  /** The name of the upload's file beside it until its last part (`.berth-upload-<id>`). */
  partial: string;
  /** The target as the client named it, for messages. */
  target: string;
  /** This part's bytes, where they start in the file, and the file's size. */
  size: number;
  offset: number;
  total: number;
  /** The file's mode once whole. */
  fileMode: number;
  idleSeconds: number;
}

export interface SpliceDownload extends RemoteUser {
  mode: "download";
  /** The file, absolute and resolved inside the container. */
  path: string;
  /** The path the client asked for, for messages. */
  shown: string;
  /** Base64: the client's answer head up to its length, which the relay adds from the open file. */
  clientHead: string;
  idleSeconds: number;
}

/** An upload's leftover files removed as the remote user (the relay's `clean`: see there). */
export interface SpliceClean extends RemoteUser {
  mode: "clean";
  /** The folder, absolute and resolved inside the container. */
  dir: string;
  /** Leftovers to remove by name (`.berth-upload-<id>`; may be none). */
  names: string[];
  /** Also the folder's other leftovers last written before this time (epoch seconds); 0: none. */
  before: number;
}

export type SpliceSpec = SpliceUpload | SpliceDownload | SpliceClean;

/**
 * The spec as the program's arguments, KEY=VALUE each (a list of numbers comma-separated): the
 * program parses them without json. No value holds a secret.
 */
export function relayArguments(spec: SpliceSpec): string[] {
  return Object.entries(spec).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(",") : String(v)}`);
}

/** What a relay said when it ended (stdout: the names a clean removed). */
export interface RelayOutcome {
  code: number;
  stdout: string;
  stderr: string;
}

const MAX_RELAY_OUTPUT = 16 * 1024;

/**
 * Starts the splice relay (`python` with PYTHON_FLAGS) with an empty environment (it needs none),
 * `input` as its standard input (a socket: this process stops reading it at the spawn; or "pipe":
 * the caller writes the body into the child's stdin) and the container's root folder, `root`, as
 * its descriptor 3.
 */
export function startSpliceRelay(
  python: string,
  input: Socket | "pipe" | "ignore",
  root: number,
  spec: SpliceSpec,
  signal: AbortSignal,
): StreamingProcess & { outcome: Promise<RelayOutcome> } {
  // None of the agent's environment: every variable is removed (an undefined value is not passed).
  const none = Object.fromEntries(Object.keys(process.env).map((k) => [k, undefined]));
  const p = spawnStreaming(python, [...PYTHON_FLAGS, ...relayArguments(spec)], {
    stdin: input,
    fds: [root],
    env: none,
    signal,
  });
  const said = { stdout: "", stderr: "" };
  for (const which of ["stdout", "stderr"] as const) {
    p[which].setEncoding("utf8");
    p[which].on("data", (c: string) => {
      const had = said[which];
      if (had.length < MAX_RELAY_OUTPUT) said[which] = had + c.slice(0, MAX_RELAY_OUTPUT - had.length);
    });
  }
  return {
    ...p,
    outcome: p.exit.then((code) => ({ code, stdout: said.stdout, stderr: said.stderr.trim() })),
  };
}
