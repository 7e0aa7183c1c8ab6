// Starting and stopping the node's haproxy.
//
// Mode: master-worker in the foreground (`-W -db`), with a pidfile. The master stays the
// process we started (so its exit is seen, and SIGUSR2 reloads it, SIGUSR1 stops it softly);
// the worker serves traffic and the admin socket. On a cloud node the same binary runs in its
// own systemd unit, `haproxy -Ws` with Type=notify (contract/node/proxy-unit.ts), never as a
// child of the agent, so an agent restart never touches traffic. The tests use `startHaproxy`,
// which runs it as a child process.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { haproxyArgs } from "../../contract/node/proxy-unit";
import { writeFileAtomic } from "../../lib/atomic-write";
import { lastLines, run } from "../../lib/process";
import { waitUntilReloadable } from "./haproxy-master";
import { HaproxyRuntimeApi } from "./runtime-api";

/**
 * Where the output of a HAProxy the agent starts itself goes (a node whose proxy has a unit of
 * its own logs to that unit's journal): under systemd (the agent's stdout is a journal stream:
 * $JOURNAL_STREAM) the request lines and HAProxy's own messages into the journal too, which
 * rotates it; elsewhere (the local node) the request lines into a ring in HAProxy's memory
 * (`show events berth-requests` on the admin socket) and HAProxy's own messages into
 * `<proxy dir>/haproxy.log`, truncated at each start: no file grows without bound.
 */
export function haproxyOutput(
  env: Readonly<Record<string, string | undefined>>,
  dir: string,
): { kind: "journal" } | { kind: "file"; path: string } {
  return env.JOURNAL_STREAM ? { kind: "journal" } : { kind: "file", path: `${dir}/haproxy.log` };
}

/** Runs `haproxy -c -f FILE`; throws with HAProxy's alerts when the file is refused. */
export async function checkHaproxyConfig(configPath: string, haproxyBin = "haproxy"): Promise<string> {
  const r = await run(haproxyBin, ["-c", "-f", configPath], { allowFailure: true, timeoutMs: 30_000 });
  const output = `${r.stdout}${r.stderr}`;
  if (r.exitCode !== 0) {
    const alerts = output
      .split("\n")
      .filter((l) => /\[(ALERT|WARNING)\]/.test(l))
      .join("\n");
    throw new Error(`haproxy refused ${configPath} (exit ${r.exitCode}):\n${alerts || lastLines(output)}`);
  }
  return output;
}

export interface StartHaproxyOptions {
  configPath: string;
  /** Written (0644, atomically) before the check; omit to use the file as it is. */
  configText?: string;
  /** The admin socket named in the configuration. */
  socketPath: string;
  pidFile: string;
  /** The configuration's server-state-file: created empty ("1\n") when missing. */
  serverStateFile?: string;
  haproxyBin?: string;
  /** How long the socket may take to answer after the spawn. Default 10 s. */
  startTimeoutMs?: number;
}

export interface HaproxyProcess {
  readonly pid: number;
  readonly api: HaproxyRuntimeApi;
  readonly child: ChildProcess;
  /** The last lines haproxy wrote (stdout and stderr), for error messages. */
  output(): string;
  /**
   * Reloads with a new configuration (only when routes change; a release switch never
   * reloads): saves the servers' state, writes and checks the file, SIGUSR2 to the master,
   * waits for the new worker on the socket. The old worker finishes its open requests.
   */
  reload(configText?: string, timeoutMs?: number): Promise<void>;
  /** Soft stop (SIGUSR1), then SIGTERM, then SIGKILL, each after `graceMs`. Default 5 s. */
  stop(graceMs?: number): Promise<void>;
}

export async function startHaproxy(o: StartHaproxyOptions): Promise<HaproxyProcess> {
  const bin = o.haproxyBin ?? "haproxy";
  const prepare = async (text?: string) => {
    if (text !== undefined) {
      mkdirSync(dirname(o.configPath), { recursive: true });
      writeFileAtomic(o.configPath, text, 0o644);
    }
    if (o.serverStateFile && !existsSync(o.serverStateFile)) writeFileAtomic(o.serverStateFile, "1\n", 0o600);
    await checkHaproxyConfig(o.configPath, bin);
  };
  await prepare(o.configText);
  mkdirSync(dirname(o.socketPath), { recursive: true });

  const args = haproxyArgs({ configPath: o.configPath, pidFile: o.pidFile, mode: "foreground" });
  const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
  let tail = "";
  const keep = (d: Buffer) => {
    tail = (tail + d.toString("utf8")).slice(-8_000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<void>((resolve) => {
    child.on("exit", (code, signal) => {
      exit = { code, signal };
      resolve();
    });
    child.on("error", (e) => {
      keep(Buffer.from(`spawn ${bin}: ${e.message}\n`));
      exit = { code: -1, signal: null };
      resolve();
    });
  });

  const api = new HaproxyRuntimeApi({ socketPath: o.socketPath, timeoutMs: 2_000 });
  const waitForWorker = async (timeoutMs: number, notPid?: number): Promise<number> => {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    while (Date.now() < deadline) {
      if (exit)
        throw new Error(`haproxy exited (${exit.signal ?? `code ${exit.code}`}):\n${lastLines(tail)}`);
      try {
        const pid = await api.ping();
        if (pid !== notPid) return pid;
        last = "the old worker still answers";
      } catch (e) {
        last = (e as Error).message;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(
      `haproxy's admin socket did not answer within ${timeoutMs} ms: ${last}\n${lastLines(tail)}`,
    );
  };

  try {
    await waitForWorker(o.startTimeoutMs ?? 10_000);
  } catch (e) {
    child.kill("SIGKILL");
    throw e;
  }

  const signalAndWait = async (sig: NodeJS.Signals, ms: number): Promise<boolean> => {
    if (exit) return true;
    child.kill(sig);
    return Promise.race([
      exited.then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), ms)),
    ]);
  };

  return {
    pid: child.pid ?? -1,
    api,
    child,
    output: () => lastLines(tail, 30),
    async reload(configText?: string, timeoutMs = 10_000) {
      if (exit) throw new Error("haproxy is not running");
      const before = await api.ping();
      if (o.serverStateFile) writeFileAtomic(o.serverStateFile, await api.serverStateText(), 0o600);
      await prepare(configText);
      // A master that does not catch SIGUSR2 yet would lose the reload, or die of it (haproxy-master.ts).
      if (child.pid !== undefined) await waitUntilReloadable(child.pid, timeoutMs);
      child.kill("SIGUSR2");
      await waitForWorker(timeoutMs, before);
    },
    async stop(graceMs = 5_000) {
      if (await signalAndWait("SIGUSR1", graceMs)) return;
      if (await signalAndWait("SIGTERM", graceMs)) return;
      await signalAndWait("SIGKILL", graceMs);
    },
  };
}
