// berth workspace shell / exec / cp / port: into a workspace through its node's access endpoint.
import { statSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { join, posix } from "node:path";
import { PassThrough } from "node:stream";
import { isId } from "../../contract/ids";
import {
  ACCESS_OPTIONS,
  ACCESS_OPTIONS_USAGE,
  AccessRefused,
  accessUrl,
  downloadFile,
  type OpenSession,
  openSession,
  operatorFrom,
  pumpStdin,
  type SessionRequest,
  type Streams,
  uploadFile,
} from "../access/client";
import { parse } from "../args";
import { type Io, UsageError } from "../io";
import { splitCommand } from "./app-access";

export const WORKSPACE_USAGE = `usage: berth workspace COMMAND NAME ... [access options]

commands:
  shell NAME                 a terminal in the workspace: its remote user's login shell, in its
                             working tree (exit with the shell's exit code)
  exec NAME [-t] -- CMD      a command in the workspace; its exit code is berth's (-t: a pty)
  cp NAME:PATH LOCAL         copy a file out of the workspace (PATH relative to the working tree)
  cp LOCAL NAME:PATH         copy a file into the workspace
  port NAME PORT [--local P] forward 127.0.0.1:P (default PORT) to PORT inside the workspace
  snapshots NAME             the workspace's backups, newest first: one snapshot each of its
                             tree, home and the agent's notes (ID, time, the three restic ids)
  restore NAME SNAPSHOT      put the workspace back to SNAPSHOT (an ID from snapshots); its
                             current state is backed up first, as a snapshot named in the output;
                             a running workspace is stopped for it and started again
  switch NAME [BRANCH]       fetch the workspace's branch now and move it to its newest commit
                             (its image built first when the devcontainer changed; the tree
                             fast-forwarded, uncommitted work kept or the switch held); BRANCH,
                             when given, must be the branch the stack declares

${ACCESS_OPTIONS_USAGE}`;

function base(io: Io, values: Record<string, unknown>, name: string) {
  return {
    url: accessUrl(values, io.env),
    operator: operatorFrom(values, io.env, io.readFile),
    ...(values.node ? { node: values.node as string } : {}),
    target: { kind: "workspace" as const, id: name },
  };
}

function streamsOf(io: Io): Streams {
  return io.streams ?? { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin };
}

async function refusalToExit<T>(io: Io, what: string, f: () => Promise<T>): Promise<T | number> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof AccessRefused) {
      io.err(`berth: ${what}: ${e.message}`);
      return e.status === 400 ? 2 : 1;
    }
    throw e;
  }
}

/** A terminal: raw mode on a local TTY, resizes forwarded, the remote shell's exit code. */
async function shell(io: Io, r: SessionRequest, tty: boolean): Promise<number> {
  const streams = streamsOf(io);
  const stdin = streams.stdin as (NodeJS.ReadStream & { isTTY?: boolean }) | undefined;
  const out = streams.stdout as NodeJS.WriteStream & { columns?: number; rows?: number };
  const size = { cols: out.columns || 80, rows: out.rows || 24 };
  const s = await openSession({ ...r, request: { ...r.request, ...(tty ? size : {}) } }, streams);
  const local = stdin?.isTTY === true && typeof stdin.setRawMode === "function";
  if (local) stdin.setRawMode(true);
  const onResize = () => s.resize(out.columns || 80, out.rows || 24);
  if (out.isTTY) out.on("resize", onResize);
  const onData = (b: Buffer) => s.send(b);
  if (stdin) {
    stdin.on("data", onData);
    stdin.once("end", () => s.eof());
  }
  try {
    return await s.done;
  } finally {
    if (stdin) {
      stdin.off("data", onData);
      if (local) stdin.setRawMode(false);
      if (stdin === process.stdin) process.stdin.destroy();
      else stdin.pause();
    }
    if (out.isTTY) out.off("resize", onResize);
  }
}

/** Where a file read from the workspace goes: into a local folder under its own name, as cp does. */
export function localDestination(to: string, remotePath: string, isFolder: (p: string) => boolean): string {
  return isFolder(to) ? join(to, posix.basename(remotePath)) : to;
}

async function cp(io: Io, values: Record<string, unknown>, from: string, to: string): Promise<number> {
  // NAME:PATH when NAME is a workspace id (an id holds no ':').
  const remote = (arg: string) => {
    const m = /^([^:]*):(.+)$/.exec(arg);
    return m && isId(m[1] ?? "") ? m : null;
  };
  const src = remote(from);
  const dst = remote(to);
  if (!!src === !!dst)
    throw new UsageError("one side of cp is NAME:PATH (the workspace), the other a local file");
  if (src) {
    const [, name = "", path = ""] = src;
    to = localDestination(to, path, (p) => statSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false);
    const err = new PassThrough();
    err.on("data", (c: Buffer) => io.err(c.toString().trimEnd()));
    return await downloadFile({ ...base(io, values, name), action: "file-read", request: { path } }, to, {
      stdout: new PassThrough(),
      stderr: err,
    });
  }
  const [, name = "", path = ""] = dst as RegExpExecArray;
  const st = statSync(from);
  const mode = st.mode & 0o777;
  return await uploadFile(
    { ...base(io, values, name), action: "file-write", request: { path, mode, size: st.size } },
    from,
    st.size,
    streamsOf(io),
  );
}

/** A session that reads nothing from standard input: its output, its exit code. */
async function quietSession(io: Io, r: SessionRequest): Promise<number> {
  const { stdout, stderr } = streamsOf(io);
  const s = await openSession(r, { stdout, stderr });
  s.eof();
  return await s.done;
}

/** Forwards a local port: each connection is a session of its own (a token each). */
async function port(
  io: Io,
  values: Record<string, unknown>,
  name: string,
  remotePort: number,
  localPort: number,
) {
  const r = base(io, values, name);
  const server = createServer((sock: Socket) => {
    const err = new PassThrough();
    err.on("data", (c: Buffer) => io.err(`berth: port ${remotePort}: ${c.toString().trimEnd()}`));
    openSession({ ...r, action: "port", request: { port: remotePort } }, { stdout: sock, stderr: err })
      .then((s: OpenSession) => {
        sock.on("data", (b: Buffer) => s.send(b));
        sock.on("end", () => s.eof());
        sock.on("close", () => s.ws.close());
        s.done.then(
          () => sock.end(),
          () => sock.destroy(),
        );
      })
      .catch((e: Error) => {
        io.err(`berth: port ${remotePort}: ${e.message}`);
        sock.destroy();
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(localPort, "127.0.0.1", () => resolve());
  });
  io.err(`forwarding 127.0.0.1:${localPort} -> workspace ${name} port ${remotePort} (^C to stop)`);
  await new Promise<void>((resolve) => process.once("SIGINT", () => resolve()));
  server.close();
  return 0;
}

export async function workspace(argv: string[], io: Io): Promise<number> {
  const [opts, command] = splitCommand(argv);
  const { values, positionals } = parse(
    opts,
    { ...ACCESS_OPTIONS, tty: { type: "boolean", short: "t" }, local: { type: "string" } },
    WORKSPACE_USAGE,
  );
  if (values.help) {
    io.out(WORKSPACE_USAGE);
    return 0;
  }
  const [sub, name, arg] = positionals;
  if (!sub || !name) throw new UsageError(`name the command and the workspace\n${WORKSPACE_USAGE}`);
  switch (sub) {
    case "shell":
      return await refusalToExit(io, `shell ${name}`, () =>
        shell(io, { ...base(io, values, name), action: "shell", request: {} }, true),
      );
    case "exec": {
      if (command.length === 0) throw new UsageError(`give the command after --\n${WORKSPACE_USAGE}`);
      const tty = values.tty === true;
      return await refusalToExit(io, `exec ${name}`, async () => {
        if (tty)
          return await shell(
            io,
            { ...base(io, values, name), action: "workspace-exec", request: { command, tty: true } },
            false,
          );
        const streams = streamsOf(io);
        const s = await openSession(
          { ...base(io, values, name), action: "workspace-exec", request: { command } },
          streams,
        );
        if (streams.stdin && !(streams.stdin as { isTTY?: boolean }).isTTY)
          void pumpStdin(s, streams.stdin).catch(() => s.eof());
        else s.eof();
        try {
          return await s.done;
        } finally {
          // An idle standard input must not keep berth alive once the command ended.
          if (streams.stdin === process.stdin) process.stdin.destroy();
        }
      });
    }
    case "cp":
      if (!arg) throw new UsageError(`cp takes a source and a destination\n${WORKSPACE_USAGE}`);
      return await refusalToExit(io, `cp`, () => cp(io, values, name, arg));
    case "snapshots":
      return await refusalToExit(io, `snapshots ${name}`, () =>
        quietSession(io, { ...base(io, values, name), action: "workspace-snapshots", request: {} }),
      );
    case "restore":
      if (!arg) throw new UsageError(`restore takes the workspace and a snapshot id\n${WORKSPACE_USAGE}`);
      if (!/^[0-9a-f]{4,64}$/.test(arg))
        throw new UsageError(
          `restore: ${JSON.stringify(arg)} is not a snapshot id (berth workspace snapshots ${name} lists them)`,
        );
      return await refusalToExit(io, `restore ${name}`, () =>
        quietSession(io, {
          ...base(io, values, name),
          action: "workspace-restore",
          request: { snapshot: arg },
        }),
      );
    case "switch":
      return await refusalToExit(io, `switch ${name}`, () =>
        quietSession(io, {
          ...base(io, values, name),
          action: "workspace-switch",
          request: arg ? { branch: arg } : {},
        }),
      );
    case "port": {
      const p = Number(arg);
      const local = values.local === undefined ? p : Number(values.local);
      if (
        !Number.isInteger(p) ||
        p < 1 ||
        p > 65535 ||
        !Number.isInteger(local) ||
        local < 1 ||
        local > 65535
      )
        throw new UsageError(`port takes a port number (1-65535)\n${WORKSPACE_USAGE}`);
      return await port(io, values, name, p, local);
    }
    default:
      throw new UsageError(`unknown workspace command ${JSON.stringify(sub)}\n${WORKSPACE_USAGE}`);
  }
}
