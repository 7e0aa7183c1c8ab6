// The body of a file upload moved to the engine by a short-lived child process, outside the
// agent's heap. A node whose python3 has os.splice uses the splice relay instead (splice-relay.ts:
// the same hand-off, with no copy in the child); this one is for a node without it. The agent authenticates the PUT, resolves the workspace's container and checks,
// as the remote user, that it may write there; only then does it hand the request's socket to
// this child as its stdin and tell the client to send the body (`100 Continue`). The child reads
// exactly the declared bytes from that socket and streams them, inside the tar the agent framed,
// to the Engine API's archive endpoint, which dockerd extracts inside the container itself (as
// docker cp: the agent resolves no path on the host). It writes nothing to the socket: the agent
// answers the request when the child exits.
//
// Why a child: node's HTTP parser copies every 64 KiB body chunk into a new ArrayBuffer, which V8
// counts as external memory; in the agent (under --optimize-for-size, and with its live heap) that
// brought 35-58 full collections per GiB, most of the agent's CPU for an upload
// (docs/benchmarks.md, bench:access). The child starts without the agent's V8 flags (none of its
// command line, no NODE_OPTIONS) and reads the socket into eight 512 KiB buffers it reuses for the
// whole file (net's onread), so it allocates nothing per chunk and makes a system call per read
// of up to 512 KiB, not 64 KiB: 0.44-0.47 s of CPU per GiB alone against 0.67-0.83 s for the same
// hop reading node's fresh 64 KiB chunks (a sink engine, load average ~8).
import { type OnReadOpts, Socket, type SocketConstructorOpts } from "node:net";
import * as z from "zod";
import { AGENT_ENVIRONMENT } from "../../contract/node/agent-process";
import { spawnStreaming } from "../../lib/process";
import { putArchive, tarHeader, tarTrailer } from "./docker-archive";

/** The agent bundle's command that runs the relay (node-agent/cli/bin.ts dispatches it first). */
export const UPLOAD_RELAY_COMMAND = "upload-relay";

const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const text = z.string().min(1);

/** What the agent tells the relay: one JSON argument, written by relayArgument. */
const RelaySpecSchema = z.object({
  /** The engine's Unix socket. */
  engineSocket: text,
  container: text,
  /** The folder inside the container the file is extracted to. */
  dir: text,
  /** The file's name in that folder. */
  name: text,
  size: count,
  mode: count,
  uid: count,
  gid: count,
  /** Seconds without a byte from the client before the upload is given up. */
  idleSeconds: count.min(1),
});
export type RelaySpec = z.infer<typeof RelaySpecSchema>;

/** The relay's one argument (JSON), as the agent writes it. */
export function relayArgument(s: RelaySpec): string {
  return JSON.stringify(s);
}

/** Reads the relay's argument back; throws naming the first field that is wrong. */
export function parseRelayArgument(argument: string | undefined): RelaySpec {
  let v: unknown;
  try {
    v = JSON.parse(argument ?? "");
  } catch {
    throw new Error(`${UPLOAD_RELAY_COMMAND}: the argument is not JSON`);
  }
  const parsed = RelaySpecSchema.safeParse(v);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const where = issue?.path.length ? `${issue.path.join(".")}: ` : "";
  throw new Error(`${UPLOAD_RELAY_COMMAND}: ${where}${issue?.message ?? "the argument is not valid"}`);
}

/** Buffers the relay reads into, and their size. */
const BUFFERS = 8;
const BUFFER_BYTES = 512 * 1024;

/**
 * Reads exactly `spec.size` bytes from the socket on `fd` and streams them, framed as a one-file
 * tar, into the container's folder through the engine. Rejects (dockerd then extracts nothing of
 * the tar cut short) when the client sends fewer or more bytes, goes quiet for `idleSeconds`, or
 * the engine refuses.
 */
export function relayUpload(fd: number, spec: RelaySpec): Promise<void> {
  let received = 0;
  let failure: Error | undefined;
  let input: Socket | undefined;
  let idle: NodeJS.Timeout | undefined;
  const length = 512 + spec.size + tarTrailer(spec.size).length;
  return putArchive(spec.engineSocket, spec.container, spec.dir, length, (req) => {
    const fail = (why: string) => {
      if (failure) return;
      failure = new Error(why);
      clearTimeout(idle);
      input?.destroy();
      req.destroy(failure);
    };
    const quiet = () => {
      clearTimeout(idle);
      idle = setTimeout(
        () => fail(`no byte of the upload for ${spec.idleSeconds} s (${received} of ${spec.size} came)`),
        spec.idleSeconds * 1000,
      );
    };
    req.write(tarHeader(spec));
    if (spec.size === 0) {
      req.end(tarTrailer(0));
      return;
    }
    quiet();
    // allowHalfOpen and not writable: the socket is shared with the agent, which answers on it;
    // this process never ends or shuts it down, it only reads (and closes its own descriptor).
    // Reads go into a few large buffers reused for the whole file (onread): a buffer is read
    // into again only once the engine's socket took what it held.
    const free: Uint8Array[] = Array.from({ length: BUFFERS }, () => Buffer.allocUnsafeSlow(BUFFER_BYTES));
    let waiting = false;
    // node's Socket constructor reads `onread` as connect() does (its types name it only there).
    const options: SocketConstructorOpts & { onread: OnReadOpts } = {
      fd,
      readable: true,
      writable: false,
      allowHalfOpen: true,
      onread: {
        buffer: () => free.pop() ?? Buffer.allocUnsafeSlow(BUFFER_BYTES),
        callback: (n: number, buf: Uint8Array) => {
          if (failure) return false;
          received += n;
          if (received > spec.size) {
            fail(`more than the ${spec.size} bytes announced arrived`);
            return false;
          }
          quiet();
          const b = Buffer.from(buf.buffer, buf.byteOffset, n);
          if (received === spec.size) {
            clearTimeout(idle);
            sock.destroy();
            req.end(Buffer.concat([b, tarTrailer(spec.size)]));
            return false;
          }
          req.write(b, (err) => {
            if (err) return;
            free.push(buf);
            if (waiting && !failure) {
              waiting = false;
              sock.resume();
            }
          });
          // node asks for the next read's buffer right after this returns, so one stays free;
          // reading waits for the engine while the others are in flight.
          if (free.length <= 1) {
            waiting = true;
            return false;
          }
          return true;
        },
      },
    };
    const sock = new Socket(options);
    input = sock;
    sock.on("end", () => {
      if (received < spec.size) fail(`the upload ended after ${received} of ${spec.size} bytes`);
    });
    sock.on("error", (e) => fail(`reading the upload: ${e.message}`));
  }).finally(() => clearTimeout(idle));
}

/** `berth-agent upload-relay JSON`: the child's whole life. Exit 0 once the engine has the file. */
export async function uploadRelayMain(argv: readonly string[], err: (s: string) => void): Promise<number> {
  try {
    await relayUpload(0, parseRelayArgument(argv[0]));
    return 0;
  } catch (e) {
    err((e as Error).message);
    return 1;
  }
}

/** How the agent starts the relay: its own bundle's `upload-relay` command. */
export interface RelayCommand {
  file: string;
  args: readonly string[];
}

/** What an upload's stderr may say, at most. */
const MAX_RELAY_STDERR = 16 * 1024;

/**
 * Starts the relay with `socket` as its standard input (this process stops reading the socket at
 * the spawn) and resolves with its exit code and what it said. No V8 flag of the agent reaches it:
 * its command line is its own, and NODE_OPTIONS is removed from its environment, as are the
 * daemon's malloc settings. Stopped with `signal` (SIGTERM).
 */
export function startUploadRelay(
  cmd: RelayCommand,
  socket: Socket,
  spec: RelaySpec,
  signal: AbortSignal,
): Promise<{ code: number; stderr: string }> {
  // The daemon's malloc settings (contract/node/agent-process.ts) are about its idle memory;
  // a child that lives for one upload runs with glibc's defaults.
  const unset = Object.fromEntries(Object.keys(AGENT_ENVIRONMENT).map((k) => [k, undefined]));
  const p = spawnStreaming(cmd.file, [...cmd.args, relayArgument(spec)], {
    stdin: socket,
    env: { ...unset, NODE_OPTIONS: undefined },
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
