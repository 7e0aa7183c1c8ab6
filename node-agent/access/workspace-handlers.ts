// Into a workspace: a terminal (a pty through the Docker Engine API), commands, files read and
// written, and a TCP stream to a port inside it. Everything runs in the workspace's container as
// its remote user, in its working tree: the container is the boundary, the node is not reached.
import { randomBytes } from "node:crypto";
import { connect } from "node:net";
import { join } from "node:path";
import type { AccessRequest } from "../../contract/access";
import type { Command } from "../compose/commands";
import { formatSnapshotSets, type WorkspaceSnapshot } from "../workspace/snapshot-sets";
import { pipeCommand } from "./app-handlers";
import { ContainerCheckers } from "./container-checker";
import { type ContainerRoot, openContainerRoot } from "./container-root";
import {
  checkedUser,
  containerPath,
  partProblem,
  readCheckCommand,
  type UploadPart,
  writeCheckCommand,
} from "./copy-checks";
import { dockerSocket, execExitCode, resizeExec, startExec } from "./docker-api";
import type { AccessContext, ActionHandler } from "./server";
import { stdinTo } from "./session";
import { RELAY_CUT_SHORT, type RemoteUser, startSpliceRelay } from "./splice-relay";
import type { CleanLeftovers, UploadLeftovers, UploadPlace } from "./upload-leftovers";
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
   * A python3 with os.splice (splice-relay.ts): an upload's body and a download's file move
   * between the client's socket and the file in a child that is the remote user and splices them,
   * outside the agent. Absent, files are copied in a session (`cat` as the remote user, in the
   * container).
   */
  splicePython?: string;
  /** Uploads that will not finish, their files removed (upload-leftovers.ts; with the relay). */
  leftovers?: UploadLeftovers;
}

/** Seconds an upload's client may send nothing before the relay gives up. */
const RELAY_IDLE_SECONDS = 120;
/** Bound of one clean of an upload's leftovers (a folder of many names is looked at in part). */
const CLEAN_TIMEOUT_MS = 30_000;

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

/** A container's root being opened, closed once open (nothing when the open failed). */
async function discardRoot(opening: Promise<ContainerRoot>): Promise<void> {
  await opening.then(
    (r) => r.handle.close(),
    () => {},
  );
}

/** The remote user as the relay becomes it: the ids the check printed, as the node sees them. */
function relayUser(w: WorkspaceContainer, root: ContainerRoot, lines: readonly string[]): RemoteUser {
  const u = checkedUser(lines);
  if (!u)
    throw new Error(`the check in workspace container ${w.id.slice(0, 12)} did not say who ${w.user} is`);
  return {
    user: w.user,
    uid: root.uid(u.uid),
    gid: root.gid(u.gid),
    groups: u.groups.map((g) => root.gid(g)),
  };
}

/**
 * A file of known size written by the splice relay as the remote user (splice-relay.ts): checked
 * first in the container (a clear early answer: may that user write there?), then the relay walks
 * the resolved folder from the container's root without following a link and writes the file
 * beside the target, renamed over it at its last part. Exactly `size` bytes or none. Resolves
 * undefined when this node has no relay.
 */
async function writeThroughRelay(
  d: WorkspaceAccessDeps,
  checks: ContainerCheckers,
  c: AccessContext,
  w: WorkspaceContainer,
  at: { dir: string; name: string },
  r: UploadPart,
): Promise<number | undefined> {
  if (!d.splicePython) return undefined;
  const problem = partProblem(r);
  if (problem) {
    await c.session.write("stderr", `${problem}\n`);
    return 1;
  }
  // The container's root is opened while the check runs: neither needs the other's answer.
  const opening = openContainerRoot(dockerSocket(d.dockerHost), w.id);
  // Its failure is thrown where it is awaited, not as an unhandled rejection meanwhile.
  opening.catch(() => {});
  // In the container's kept shell (container-checker.ts): an exec of its own cost ~50 ms here.
  const out = await checks.run(w, writeCheckCommand(at.dir, at.name)).catch(async (e) => {
    await discardRoot(opening);
    throw e;
  });
  const [dir = "", ...ids] = out.stdout.trim().split("\n");
  if (out.exitCode !== 0 || !dir.startsWith("/")) {
    await discardRoot(opening);
    await c.session.write(
      "stderr",
      out.stderr.trim() ? `${out.stderr.trim()}\n` : `cannot write ${at.dir}/${at.name}\n`,
    );
    return 1;
  }
  const root = await opening;
  let relay: ReturnType<typeof startSpliceRelay>;
  let body: import("node:net").Socket | undefined;
  const part = { offset: r.offset ?? 0, size: r.size, total: r.total ?? r.size };
  let place: UploadPlace | undefined;
  try {
    const user = relayUser(w, root, ids);
    const partial = `.berth-upload-${r.upload ?? randomBytes(16).toString("hex")}`;
    // Known before a byte is written, so that a file the upload leaves is removed (its last part
    // is then taken only when every byte before it landed here).
    const refused = await d.leftovers?.begin({ workspace: c.target.id, dir, partial, user }, part);
    if (refused) {
      await c.session.write("stderr", `${at.dir === "/" ? "" : at.dir}/${at.name}: ${refused}\n`);
      return 1;
    }
    if (d.leftovers) place = { workspace: c.target.id, dir, partial, user };
    const spec = {
      mode: "upload" as const,
      ...user,
      dir,
      name: at.name,
      partial,
      target: `${at.dir === "/" ? "" : at.dir}/${at.name}`,
      ...part,
      fileMode: r.mode ?? 0o644,
      idleSeconds: RELAY_IDLE_SECONDS,
    };
    // The body straight from the client's socket when none of it was read here (the client waits
    // for 100 Continue); else the agent writes what it reads into the relay's stdin.
    body = c.session.takeBody?.(r.size);
    relay = startSpliceRelay(d.splicePython, body ?? "pipe", root.handle.fd, spec, c.session.signal);
  } catch (e) {
    if (place) d.leftovers?.end(place, part, false);
    throw e;
  } finally {
    // The child has its own descriptor of the root now (or none was started).
    await root.handle.close();
  }
  if (body) c.session.sendContinue?.();
  else pipeBody(c, relay, r.size);
  const { code, stderr } = await relay.outcome;
  if (place) d.leftovers?.end(place, part, code === 0);
  if (code === 0) return 0;
  await c.session.write("stderr", `${stderr || `the upload's relay stopped with ${code}`}\n`);
  return 1;
}

/**
 * Removes an upload's leftover file (upload-leftovers.ts) in the workspace's running container,
 * through the splice relay's `clean` as the user the upload wrote as; throws when the workspace
 * does not run (the journal keeps it for a later sweep).
 */
export function leftoverCleaner(d: WorkspaceAccessDeps & { splicePython: string }): CleanLeftovers {
  const socket = dockerSocket(d.dockerHost);
  return async (place, before) => {
    const w = await findWorkspaceContainer(
      place.workspace,
      join(d.stateRoot, "workspaces", place.workspace, "repo"),
      socket,
    );
    const root = await openContainerRoot(socket, w.id);
    let relay: ReturnType<typeof startSpliceRelay>;
    try {
      relay = startSpliceRelay(
        d.splicePython,
        "ignore",
        root.handle.fd,
        { mode: "clean", ...place.user, dir: place.dir, names: [place.partial], before },
        AbortSignal.timeout(CLEAN_TIMEOUT_MS),
      );
    } finally {
      await root.handle.close();
    }
    const { code, stdout, stderr } = await relay.outcome;
    if (code !== 0) throw new Error(stderr || `the relay's clean stopped with ${code}`);
    return stdout.split("\n").filter(Boolean);
  };
}

/** An upload's body read here (a client that did not wait) written into the relay's stdin, exactly `size` bytes. */
function pipeBody(c: AccessContext, relay: ReturnType<typeof startSpliceRelay>, size: number): void {
  const into = relay.stdin as NodeJS.WritableStream & { destroy(): void };
  let received = 0;
  into.on("error", () => {});
  c.session.onStdin(
    (b) => {
      received += b.length;
      if (received > size) {
        relay.kill();
        return;
      }
      if (!into.write(b)) {
        c.session.pause();
        into.once("drain", () => c.session.resume());
      }
    },
    () => {
      c.session.resume();
      into.end();
    },
  );
}

/**
 * A file read by the splice relay as the remote user, for a client that asked with a plain GET
 * (http-download.ts): checked first in the container (does it exist, may that user read it, where
 * do its links lead?), then the response's socket handed to the relay, which opens the resolved
 * path as that user, following no link, and splices the file to the client. Resolves with the
 * exit code, or undefined when the file is better read in a session (`cat`, as the remote user):
 * not a regular file with a size, or no relay on this node.
 */
async function readThroughRelay(
  d: WorkspaceAccessDeps,
  checks: ContainerCheckers,
  c: AccessContext,
  w: WorkspaceContainer,
  path: string,
): Promise<number | undefined> {
  const answer = c.session.download;
  if (!d.splicePython || !answer) return undefined;
  // The container's root is opened while the check runs, as for an upload.
  const opening = openContainerRoot(dockerSocket(d.dockerHost), w.id);
  // Its failure is thrown where it is awaited, not as an unhandled rejection meanwhile.
  opening.catch(() => {});
  const out = await checks.run(w, readCheckCommand(path)).catch(async (e) => {
    await discardRoot(opening);
    throw e;
  });
  if (out.exitCode !== 0) {
    await discardRoot(opening);
    await c.session.write("stderr", out.stderr.trim() ? `${out.stderr.trim()}\n` : `cannot read ${path}\n`);
    return 1;
  }
  const [resolved = "", kind, ...ids] = out.stdout.split("\n");
  if (kind !== "file" || !resolved.startsWith("/") || !checkedUser(ids)) {
    await discardRoot(opening);
    return undefined;
  }
  const root = await opening;
  let relay: ReturnType<typeof startSpliceRelay> | undefined;
  try {
    const spec = {
      mode: "download" as const,
      ...relayUser(w, root, ids),
      path: resolved,
      shown: path,
      clientHead: Buffer.from(answer.head()).toString("base64"),
      idleSeconds: RELAY_IDLE_SECONDS,
    };
    const socket = answer.take();
    if (socket) relay = startSpliceRelay(d.splicePython, socket, root.handle.fd, spec, c.session.signal);
  } finally {
    await root.handle.close();
  }
  if (!relay) return undefined;
  const { code, stderr } = await relay.outcome;
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
      const archived = await readThroughRelay(d, checks(), c, w, r.path);
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
      if (r.size !== undefined) {
        const written = await writeThroughRelay(d, checks(), c, w, at, { ...r, size: r.size });
        if (written !== undefined) return written;
      }
      // A part of an upload needs the relay: the client is told to send the whole file in a session.
      if (r.offset !== undefined) {
        if (c.session.useSession) {
          c.session.useSession();
          return 0;
        }
        await c.session.write("stderr", "this node copies a file only whole (it has no splice relay)\n");
        return 1;
      }
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
