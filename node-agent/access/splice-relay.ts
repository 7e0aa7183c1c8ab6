// A file's bytes moved between the client's socket and the engine's by the kernel, in a short-lived
// Python child: splice(2) from one socket into a pipe and from the pipe into the other socket, so
// no byte is copied into a process (node has no splice; Python has os.splice from 3.10, and every
// node has python3, which cloud-init itself runs on).
//
// The agent has checked everything before it starts this child (the token, the grant, the nonce,
// the container, the read or write check as the remote user). The child gets no secret: its
// arguments (KEY=VALUE, relayArguments) hold the bytes it writes before and after the file (the
// engine's request head and the tar framing the agent made), the file's size, and for a download
// the remote user's uid and groups. It is Python's isolated mode (-I -S): no environment
// variable, user site or current folder changes what it runs; it imports only modules built into
// the interpreter.
//
// Upload: the request's socket is its stdin. It writes `before` to the engine, splices exactly
// `size` bytes of the body, writes `after` (the tar's padding and end), and reads the engine's
// answer. It writes nothing to the client: the agent answers when it exits (0: the engine has the
// file, 1: what went wrong is on stderr).
//
// Download: the response's socket is its stdin. It writes `before` (an HTTP/1.0 GET of the
// archive: dockerd then sends the tar as it is, without chunked framing, and closes), reads the
// engine's answer head and the tar's headers (a PAX header's size, path, uid and gid are read),
// refuses anything but one regular file, checks the file's owner and mode against the remote user
// (a file swapped after the agent's check is not served as root), then writes the client's answer
// head with the file's length and splices the file's bytes to the client. Exit 0: the whole answer
// went; 1: nothing was written to the client (the agent answers, stderr says why); 2: the
// answer's head went but not all of the file (the agent closes the connection: the client sees a
// body shorter than its length).
import type { Socket } from "node:net";
import { run, spawnStreaming } from "../../lib/process";

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

/** The Python program. Kept small: the agent checks, this only moves bytes. */
export const SPLICE_RELAY_PY = String.raw`
# Only modules built into the interpreter: posix (not os), _socket (not socket), binascii (not
# base64), no json (the spec is KEY=VALUE arguments). socket, base64 and json import enum and re,
# which made up half of the relay's start (~10 ms of a copy's fixed cost, docs/benchmarks.md).
import _socket, binascii, fcntl, posix, select, sys

spec = dict(a.partition("=")[::2] for a in sys.argv[1:])
IDLE = int(spec["idleSeconds"])
CLIENT = 0
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
            raise Stop("the %s ended after %d of %d bytes" % ("upload" if src_client else "engine's archive", size - left, size))
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


def read_head(sock):
    # The engine's answer head, exactly: what follows it stays in the socket (to be spliced).
    got = b""
    while True:
        peek = sock.recv(65536, _socket.MSG_PEEK)
        if not peek:
            raise Stop("the engine closed the connection before answering")
        tail = got[-3:]
        at = (tail + peek).find(b"\r\n\r\n")
        if at >= 0:
            got += recv_exact(sock, at + 4 - len(tail))
            break
        got += recv_exact(sock, len(peek))
        if len(got) > 65536:
            raise Stop("the engine's answer head is too long")
    lines = got.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return status, headers


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        part = sock.recv(n - len(buf))
        if not part:
            raise Stop("the engine's answer ended early")
        buf += part
    return bytes(buf)


def refusal(sock, status, headers):
    body = b""
    while len(body) < 65536:
        part = sock.recv(65536)
        if not part:
            break
        body += part
    text = body.decode("utf-8", "replace").strip()
    try:
        import json  # only here: a refusal is rare, and json imports re

        text = json.loads(text).get("message", text)
    except Exception:
        pass
    return text


def engine():
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    s.connect(spec["engineSocket"])
    s.sendall(binascii.a2b_base64(spec["before"]))
    return s


def upload():
    size = int(spec["size"])
    eng = engine()
    pr, pw = make_pipe()
    move(CLIENT, eng.fileno(), size, pr, pw, True)
    eng.sendall(binascii.a2b_base64(spec["after"]))
    status, headers = read_head(eng)
    if status >= 300:
        raise Stop("the engine refused the file (%d): %s" % (status, refusal(eng, status, headers)))


def octal(field):
    if field and field[0] & 0x80:
        n = 0
        for b in field[1:]:
            n = (n << 8) | b
        return n
    text = field.split(b"\0")[0].strip(b" \0")
    return int(text, 8) if text else 0


def pax(data):
    out = {}
    while data:
        sp = data.find(b" ")
        if sp <= 0:
            break
        n = int(data[:sp])
        rec = data[sp + 1:n].rstrip(b"\n")
        k, _, v = rec.partition(b"=")
        out[k.decode("utf-8", "replace")] = v.decode("utf-8", "replace")
        data = data[n:]
    return out


def download():
    eng = engine()
    status, headers = read_head(eng)
    if status >= 300:
        raise Stop(refusal(eng, status, headers))
    ext = {}
    while True:
        h = recv_exact(eng, 512)
        if h == b"\0" * 512:
            raise Stop("%s: the engine's archive holds no file" % spec["path"])
        kind = h[156:157]
        size = octal(h[124:136])
        if kind in (b"x", b"g", b"L", b"K"):
            data = recv_exact(eng, (size + 511) // 512 * 512)[:size]
            if kind == b"x":
                ext = pax(data)
            continue
        break
    if kind not in (b"0", b"\0", b"7"):
        raise Stop("%s is not a regular file" % spec["path"])
    size = int(ext.get("size", size))
    uid = int(ext.get("uid", octal(h[108:116])))
    gid = int(ext.get("gid", octal(h[116:124])))
    mode = octal(h[100:108])
    me = int(spec["uid"])
    if me != 0:
        if uid == me:
            ok = mode & 0o400
        elif gid in [int(g) for g in spec["groups"].split(",") if g]:
            ok = mode & 0o040
        else:
            ok = mode & 0o004
        if not ok:
            raise Stop("%s: permission denied (the file the engine read is owned by %d:%d, mode %o)" % (spec["path"], uid, gid, mode & 0o7777))
    write_client(binascii.a2b_base64(spec["clientHead"]) + b"content-length: %d\r\n\r\n" % size)
    pr, pw = make_pipe()
    move(eng.fileno(), CLIENT, size, pr, pw, False)
    # The tar's padding and end: read, so the engine ends its answer cleanly.
    try:
        eng.settimeout(5)
        left = 64 * 1024
        while left > 0:
            part = eng.recv(left)
            if not part:
                break
            left -= len(part)
    except OSError:
        pass


try:
    (upload if spec["mode"] == "upload" else download)()
except (Stop, OSError, ValueError, KeyError) as e:
    sys.stderr.write("%s\n" % e)
    sys.stderr.flush()
    posix._exit(2 if wrote_client else 1)
# Without the interpreter's teardown (~3 ms): nothing is buffered, the sockets close with the process.
posix._exit(0)
`;

/** The interpreter's flags: isolated (no PYTHON* variable, no user site, no current folder), no site. */
export const PYTHON_FLAGS = ["-I", "-S", "-c", SPLICE_RELAY_PY] as const;

export interface SpliceUpload {
  mode: "upload";
  engineSocket: string;
  /** Base64: the engine's request head and the tar header. */
  before: string;
  size: number;
  /** Base64: the tar's padding and end blocks. */
  after: string;
  idleSeconds: number;
}

export interface SpliceDownload {
  mode: "download";
  engineSocket: string;
  /** Base64: the engine's request (an HTTP/1.0 GET of the archive). */
  before: string;
  /** Base64: the client's answer head up to its length, which the relay adds from the tar. */
  clientHead: string;
  /** The path the client asked for, for messages. */
  path: string;
  /** The remote user's uid and groups: the file the engine read must be readable by them. */
  uid: number;
  groups: number[];
  idleSeconds: number;
}

export type SpliceSpec = SpliceUpload | SpliceDownload;

/**
 * The spec as the program's arguments, KEY=VALUE each (a list of numbers comma-separated): the
 * program parses them without json. No value holds a secret.
 */
export function relayArguments(spec: SpliceSpec): string[] {
  return Object.entries(spec).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(",") : String(v)}`);
}

/** What a relay said when it ended. */
export interface RelayOutcome {
  code: number;
  stderr: string;
}

const MAX_RELAY_STDERR = 16 * 1024;

/**
 * Starts the splice relay (`python` with PYTHON_FLAGS) with `socket` as its standard input (this
 * process stops reading the socket at the spawn), with an empty environment: it needs none.
 */
export function startSpliceRelay(
  python: string,
  socket: Socket,
  spec: SpliceSpec,
  signal: AbortSignal,
): Promise<RelayOutcome> {
  // None of the agent's environment: every variable is removed (an undefined value is not passed).
  const none = Object.fromEntries(Object.keys(process.env).map((k) => [k, undefined]));
  const p = spawnStreaming(python, [...PYTHON_FLAGS, ...relayArguments(spec)], {
    stdin: socket,
    env: none,
    signal,
  });
  let stderr = "";
  p.stderr.setEncoding("utf8");
  p.stderr.on("data", (c: string) => {
    if (stderr.length < MAX_RELAY_STDERR) stderr += c.slice(0, MAX_RELAY_STDERR - stderr.length);
  });
  p.stdout.resume();
  return p.exit.then((code) => ({ code, stderr: stderr.trim() }));
}
