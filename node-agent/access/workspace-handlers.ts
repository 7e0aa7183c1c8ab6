// Into a workspace: a terminal (a pty through the Docker Engine API), commands, files read and
// written, and a TCP stream to a port inside it. Everything runs in the workspace's container as
// its remote user, in its working tree: the container is the boundary, the node is not reached.
import { connect } from "node:net";
import { join } from "node:path";
import type { AccessRequest } from "../../contract/access";
import type { Command } from "../compose/commands";
import { formatSnapshotSets, type WorkspaceSnapshot } from "../workspace/snapshot-sets";
import { pipeCommand } from "./app-handlers";
import { ContainerCheckers } from "./container-checker";
import { dockerSocket, execExitCode, resizeExec, startExec } from "./docker-api";
import {
  containerPath,
  fitsUstar,
  getArchiveRequest,
  putArchive,
  putArchiveHead,
  readCheckCommand,
  tarHeader,
  tarTrailer,
  writeCheckCommand,
} from "./docker-archive";
import type { AccessContext, ActionHandler } from "./server";
import { stdinTo } from "./session";
import { RELAY_CUT_SHORT, startSpliceRelay } from "./splice-relay";
import { type RelayCommand, startUploadRelay } from "./upload-relay";
import { findWorkspaceContainer, type WorkspaceContainer } from "./workspace-container";

/** The daemon's workspaces (sync.ts): sessions count as activity; a stopped workspace is woken. */
export interface WorkspaceLifecycleHooks {
  sessionStarted(id: string): void;
  sessionEnded(id: string): void;
  /** Starts a workspace stopped for idleness and resolves once it runs (nothing otherwise). */
  wake(id: string): Promise<void>;
  /** The workspace's snapshot sets, oldest first (sync.ts; throws when it declares no backup). */
  snapshots?(id: string): Promise<WorkspaceSnapshot[]>;
  /** Restores a snapshot set, the current state backed up first; resolves with the exit code. */
  restore?(id: string, snapshot: string, say: (line: string) => void): Promise<number>;
  /** Moves the workspace to its branch's newest commit now; resolves with the exit code. */
  switchAsked?(id: string, branch: string | undefined, say: (line: string) => void): Promise<number>;
}

export interface WorkspaceAccessDeps {
  stateRoot: string;
  /** DOCKER_HOST of the engine workspaces run on (the default one when absent). */
  dockerHost?: string;
  lifecycle?: WorkspaceLifecycleHooks;
  /**
   * The agent's own `upload-relay` command (upload-relay.ts): an upload whose client waits for
   * `100 Continue` has its body moved to the engine by it, outside the agent's heap. Absent (the
   * agent run from source), every body is read here.
   */
  uploadRelay?: RelayCommand;
  /**
   * A python3 with os.splice (splice-relay.ts): an upload's body and a download's file move
   * between the client's socket and the engine's in a child that splices them, outside the agent.
   * Absent, uploads take `uploadRelay` and downloads a session (`cat` through the agent).
   */
  splicePython?: string;
}

/** Seconds an upload's client may send nothing before the relay gives up. */
const RELAY_IDLE_SECONDS = 120;

/** The user's login shell, else bash, else sh. */
export const LOGIN_SHELL = [
  "/bin/sh",
  "-c",
  'shell="$(getent passwd "$(id -un)" 2>/dev/null | cut -d: -f7)"; [ -x "$shell" ] || shell="$(command -v bash || echo /bin/sh)"; exec "$shell" -l',
];

export function execInWorkspace(
  c: WorkspaceContainer,
  command: readonly string[],
  o: { stdin: boolean },
): Command {
  return {
    file: "docker",
    args: [
      "exec",
      ...(o.stdin ? ["--interactive"] : []),
      "--user",
      c.user,
      "--workdir",
      c.folder,
      c.id,
      ...command,
    ],
  };
}

/** Reads a file: its bytes on stdout (`--` so a path cannot be an option). */
export const readFileCommand = (path: string) => ["cat", "--", path];
/** Writes a file from stdin, creating it (and setting its mode when given). */
export const writeFileCommand = (path: string, mode?: number) => [
  "sh",
  "-c",
  `cat > "$1"${mode !== undefined ? ` && chmod ${mode.toString(8)} "$1"` : ""}`,
  "berth-write",
  path,
];

async function pty(
  d: WorkspaceAccessDeps,
  c: AccessContext,
  w: WorkspaceContainer,
  command: string[],
  size?: { cols: number; rows: number },
) {
  const socket = dockerSocket(d.dockerHost);
  const { id, stream } = await startExec(socket, {
    container: w.id,
    command,
    user: w.user,
    workingDir: w.folder,
    env: ["TERM=xterm-256color"],
    tty: true,
  });
  const resize = (cols: number, rows: number) => void resizeExec(socket, id, cols, rows).catch(() => {});
  if (size) resize(size.cols, size.rows);
  c.session.onResize(resize);
  stdinTo(c.session, stream, () => stream.end());
  c.session.signal.addEventListener("abort", () => stream.destroy(), { once: true });
  await c.session.pipe(stream, "stdout").catch(() => {});
  // The stream ends a moment before the engine records the exit code.
  for (let i = 0; i < 50; i++) {
    const code = await execExitCode(socket, id).catch(() => null);
    if (code !== null) return code;
    await new Promise((r) => setTimeout(r, 20));
  }
  return c.session.signal.aborted ? 130 : 1;
}

/**
 * A file of known size written as docker cp writes it: checked as the remote user (may it write
 * there?), then one tar streamed to the engine, owned by that user. Exactly `size` bytes or none.
 */
async function writeThroughArchive(
  d: WorkspaceAccessDeps,
  checks: ContainerCheckers,
  c: AccessContext,
  w: WorkspaceContainer,
  at: { dir: string; name: string },
  size: number,
  mode: number | undefined,
): Promise<number> {
  // In the container's kept shell (container-checker.ts): an exec of its own cost ~50 ms here.
  const out = await checks.run(w, writeCheckCommand(at.dir, at.name));
  const [uid, gid] = out.stdout.trim().split("\n").map(Number);
  if (out.exitCode !== 0 || !Number.isInteger(uid) || !Number.isInteger(gid)) {
    await c.session.write(
      "stderr",
      out.stderr.trim() ? `${out.stderr.trim()}\n` : `cannot write ${at.dir}/${at.name}\n`,
    );
    return 1;
  }
  const entry = { name: at.name, size, mode: mode ?? 0o644, uid: uid as number, gid: gid as number };
  // The body straight from the client's socket to the engine, in a child process: the agent
  // checked who may write what and where; the child only moves the bytes (upload-relay.ts).
  const body = d.splicePython || d.uploadRelay ? c.session.takeBody?.(size) : undefined;
  if (d.splicePython && body) {
    const header = tarHeader(entry);
    const trailer = tarTrailer(size);
    const relayed = startSpliceRelay(
      d.splicePython,
      body,
      {
        mode: "upload",
        engineSocket: dockerSocket(d.dockerHost),
        before: Buffer.concat([
          Buffer.from(putArchiveHead(w.id, at.dir, header.length + size + trailer.length)),
          header,
        ]).toString("base64"),
        size,
        after: trailer.toString("base64"),
        idleSeconds: RELAY_IDLE_SECONDS,
      },
      c.session.signal,
    );
    c.session.sendContinue?.();
    const { code, stderr } = await relayed;
    if (code === 0) return 0;
    await c.session.write("stderr", `${stderr || `the upload's relay stopped with ${code}`}\n`);
    return 1;
  }
  if (d.uploadRelay && body) {
    const relayed = startUploadRelay(
      d.uploadRelay,
      body,
      {
        ...entry,
        engineSocket: dockerSocket(d.dockerHost),
        container: w.id,
        dir: at.dir,
        idleSeconds: RELAY_IDLE_SECONDS,
      },
      c.session.signal,
    );
    c.session.sendContinue?.();
    const { code, stderr } = await relayed;
    if (code === 0) return 0;
    await c.session.write("stderr", `${stderr || `the upload's relay stopped with ${code}`}\n`);
    return 1;
  }
  const header = tarHeader(entry);
  const trailer = tarTrailer(size);
  let received = 0;
  try {
    await putArchive(
      dockerSocket(d.dockerHost),
      w.id,
      at.dir,
      header.length + size + trailer.length,
      (req) => {
        const fail = (why: string) => req.destroy(new Error(why));
        c.session.signal.addEventListener("abort", () => fail("the client went away"), { once: true });
        req.write(header);
        c.session.onStdin(
          (b) => {
            received += b.length;
            if (received > size) return fail(`more than the ${size} bytes announced arrived`);
            if (!req.write(b)) {
              c.session.pause();
              req.once("drain", () => c.session.resume());
            }
          },
          () => {
            c.session.resume();
            if (received !== size) fail(`the upload ended after ${received} of ${size} bytes`);
            else req.end(trailer);
          },
        );
      },
    );
  } catch (e) {
    await c.session.write("stderr", `${(e as Error).message}\n`);
    return 1;
  }
  return 0;
}

/**
 * A file read as docker cp reads one, for a client that asked with a plain GET (http-download.ts):
 * checked as the remote user (does it exist, is it readable, where do its links lead?), then the
 * response's socket handed to the splice relay, which streams the engine's archive of it to the
 * client. Resolves with the exit code, or undefined when the file is better read in a session
 * (`cat`, as the remote user): not a regular file with a size, or no relay on this node.
 */
async function readThroughArchive(
  d: WorkspaceAccessDeps,
  checks: ContainerCheckers,
  c: AccessContext,
  w: WorkspaceContainer,
  path: string,
): Promise<number | undefined> {
  const answer = c.session.download;
  if (!d.splicePython || !answer) return undefined;
  const out = await checks.run(w, readCheckCommand(path));
  if (out.exitCode !== 0) {
    await c.session.write("stderr", out.stderr.trim() ? `${out.stderr.trim()}\n` : `cannot read ${path}\n`);
    return 1;
  }
  const [resolved = "", kind, uid, groups = ""] = out.stdout.split("\n");
  const gids = groups.trim().split(/\s+/).map(Number);
  if (
    kind !== "file" ||
    !resolved.startsWith("/") ||
    !/^\d+$/.test(uid ?? "") ||
    gids.some((g) => !Number.isInteger(g))
  )
    return undefined;
  const socket = answer.take();
  if (!socket) return undefined;
  const { code, stderr } = await startSpliceRelay(
    d.splicePython,
    socket,
    {
      mode: "download",
      engineSocket: dockerSocket(d.dockerHost),
      before: Buffer.from(getArchiveRequest(w.id, resolved)).toString("base64"),
      clientHead: Buffer.from(answer.head()).toString("base64"),
      path,
      uid: Number(uid),
      groups: gids,
      idleSeconds: RELAY_IDLE_SECONDS,
    },
    c.session.signal,
  );
  if (code === 0) {
    answer.answered();
    return 0;
  }
  // Part of the file went: the client sees a body shorter than its length; nothing more is said.
  if (code === RELAY_CUT_SHORT) {
    answer.answered();
    c.log.warn({ path, err: stderr }, "a download was cut short");
    return 1;
  }
  await c.session.write("stderr", `${stderr || `the download's relay stopped with ${code}`}\n`);
  return 1;
}

export function workspaceHandlers(d: WorkspaceAccessDeps): Record<string, ActionHandler> {
  const env: Record<string, string> = d.dockerHost ? { DOCKER_HOST: d.dockerHost } : {};
  const container = (c: AccessContext) =>
    findWorkspaceContainer(
      c.target.id,
      join(d.stateRoot, "workspaces", c.target.id, "repo"),
      dockerSocket(d.dockerHost),
    );

  // The copies' checks, in a shell kept in each container (started at its first copy).
  let checkers: ContainerCheckers | undefined;
  const checks = () => {
    checkers ??= new ContainerCheckers({ socketPath: dockerSocket(d.dockerHost) });
    return checkers;
  };

  const handlers: Record<string, ActionHandler> = {
    shell: async (c) => {
      const r = c.request as AccessRequest<"shell">;
      return await pty(d, c, await container(c), LOGIN_SHELL, r);
    },
    "workspace-exec": async (c) => {
      const r = c.request as AccessRequest<"workspace-exec">;
      const w = await container(c);
      if (r.tty) return await pty(d, c, w, r.command);
      return await pipeCommand(c.session, execInWorkspace(w, r.command, { stdin: true }), env);
    },
    "file-read": async (c) => {
      const r = c.request as AccessRequest<"file-read">;
      const w = await container(c);
      const archived = await readThroughArchive(d, checks(), c, w, r.path);
      if (archived !== undefined) return archived;
      // A plain GET that this node reads better in a session: the client is told to open one.
      if (c.session.download) {
        c.session.download.useSession();
        return 0;
      }
      return await pipeCommand(c.session, execInWorkspace(w, readFileCommand(r.path), { stdin: false }), env);
    },
    "file-write": async (c) => {
      const r = c.request as AccessRequest<"file-write">;
      const w = await container(c);
      const at = containerPath(w.folder, r.path);
      if (r.size !== undefined && fitsUstar(at.name, r.size))
        return await writeThroughArchive(d, checks(), c, w, at, r.size, r.mode);
      return await pipeCommand(
        c.session,
        execInWorkspace(w, writeFileCommand(r.path, r.mode), { stdin: true }),
        env,
      );
    },
    port: async (c) => {
      const r = c.request as AccessRequest<"port">;
      const w = await container(c);
      if (!w.address) throw new Error(`workspace ${c.target.id}'s container has no network address`);
      const sock = connect({ host: w.address, port: r.port });
      const opened = await new Promise<boolean>((resolve) => {
        sock.once("connect", () => resolve(true));
        sock.once("error", () => resolve(false));
      });
      if (!opened) {
        await c.session.write("stderr", `nothing listens on port ${r.port} in workspace ${c.target.id}\n`);
        return 1;
      }
      stdinTo(c.session, sock, () => sock.end());
      c.session.signal.addEventListener("abort", () => sock.destroy(), { once: true });
      await c.session.pipe(sock, "stdout").catch(() => {});
      return 0;
    },
  };
  const hooks = d.lifecycle;
  if (!hooks) return handlers;
  // Each session is activity while it lasts, and an access to a stopped workspace starts it.
  // Snapshots and restores are neither: they leave a sleeping workspace asleep.
  return {
    ...backupHandlers(hooks),
    ...Object.fromEntries(
      Object.entries(handlers).map(([action, handler]) => [
        action,
        async (c: AccessContext) => {
          hooks.sessionStarted(c.target.id);
          try {
            await hooks.wake(c.target.id);
            return await handler(c);
          } finally {
            hooks.sessionEnded(c.target.id);
          }
        },
      ]),
    ),
  };
}

/** Each line the daemon says, on the session's stdout, in order; waited for before the exit. */
async function saying(c: AccessContext, work: (say: (line: string) => void) => Promise<number>) {
  let said = Promise.resolve();
  const code = await work((line) => {
    said = said.then(() => c.session.write("stdout", Buffer.from(`${line}\n`)));
  });
  await said;
  return code;
}

/**
 * `berth workspace snapshots`, `restore` and `switch`: lines of text on stdout, the exit code.
 * None wakes a sleeping workspace first (a switch wakes it itself to move its tree); a switch is a
 * session of the workspace's (activity) while it runs.
 */
function backupHandlers(hooks: WorkspaceLifecycleHooks): Record<string, ActionHandler> {
  const out: Record<string, ActionHandler> = {};
  const { snapshots, restore, switchAsked } = hooks;
  if (snapshots)
    out["workspace-snapshots"] = async (c) => {
      const sets = await snapshots.call(hooks, c.target.id);
      const lines = formatSnapshotSets(sets);
      await c.session.write("stdout", Buffer.from(lines.length > 0 ? `${lines.join("\n")}\n` : ""));
      if (lines.length === 0)
        await c.session.write("stderr", `workspace ${c.target.id} has no snapshots yet\n`);
      return 0;
    };
  if (restore)
    out["workspace-restore"] = async (c) => {
      const r = c.request as AccessRequest<"workspace-restore">;
      return await saying(c, (say) => restore.call(hooks, c.target.id, r.snapshot, say));
    };
  if (switchAsked)
    out["workspace-switch"] = async (c) => {
      const r = c.request as AccessRequest<"workspace-switch">;
      hooks.sessionStarted(c.target.id);
      try {
        return await saying(c, (say) => switchAsked.call(hooks, c.target.id, r.branch, say));
      } finally {
        hooks.sessionEnded(c.target.id);
      }
    };
  return out;
}
