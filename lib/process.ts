// berth's one process runner: every external command (pulumi, docker, haproxy, git...) goes
// through here. A thin shell over execa that adds what berth needs everywhere: secret values
// redacted from errors, a bounded time, and errors that name the command and its last output.
import { spawn } from "node:child_process";
import type { Socket } from "node:net";
import { constants } from "node:os";
import type { Options } from "execa";

export interface RunOptions {
  cwd?: string;
  /** Extra environment; merged over process.env unless `isolatedEnv` is set. */
  env?: Record<string, string | undefined>;
  /** Start from an empty environment (plus PATH and HOME), not from process.env. */
  isolatedEnv?: boolean;
  input?: string;
  timeoutMs?: number;
  /** Values that must never appear in an error message or log line. */
  redact?: readonly string[];
  /** Resolve with the exit code instead of throwing on a non-zero exit. */
  allowFailure?: boolean;
  /** Stops the command (SIGTERM) when aborted; the call then rejects with a ProcessError. */
  signal?: AbortSignal;
  /**
   * Also passes the command's output through to this process's stdout and stderr as it comes
   * (a long `pulumi up` the user watches); it is captured in the result all the same.
   */
  passThrough?: boolean;
  /** Called with each line of the command's standard output as it comes (restic's progress). */
  onStdoutLine?: (line: string) => void;
}

export interface RunResult {
  command: string;
  exitCode: number;
  stdout: string;
  stderr: string;
}

export class ProcessError extends Error {
  constructor(
    message: string,
    readonly result: RunResult,
  ) {
    super(message);
    this.name = "ProcessError";
  }
}

export function redactText(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join("[secret]");
  return out;
}

/** The last `n` non-empty lines of a text, for error messages. */
export function lastLines(text: string, n = 12): string {
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .slice(-n)
    .join("\n");
}

export async function run(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const { execa } = await import("execa");
  const redact = opts.redact ?? [];
  const env = opts.isolatedEnv
    ? { PATH: process.env.PATH, HOME: process.env.HOME, ...opts.env }
    : { ...process.env, ...opts.env };
  const execaOpts: Options = {
    cwd: opts.cwd,
    env,
    extendEnv: !opts.isolatedEnv,
    input: opts.input,
    timeout: opts.timeoutMs,
    forceKillAfterDelay: 5_000,
    reject: false,
    stripFinalNewline: false,
    ...(opts.signal ? { cancelSignal: opts.signal } : {}),
    ...(opts.passThrough ? { stdout: ["pipe", "inherit"], stderr: ["pipe", "inherit"] } : {}),
  };
  const sub = execa(file, args, execaOpts);
  if (opts.onStdoutLine) {
    const each = opts.onStdoutLine;
    let partial = "";
    sub.stdout?.on("data", (chunk: Buffer) => {
      const lines = (partial + chunk.toString("utf8")).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) each(line);
    });
  }
  const r = await sub;
  const command = redactText([file, ...args].join(" "), redact);
  const result: RunResult = {
    command,
    exitCode: typeof r.exitCode === "number" ? r.exitCode : -1,
    stdout: String(r.stdout ?? ""),
    stderr: String(r.stderr ?? ""),
  };
  if (r.timedOut) {
    throw new ProcessError(`${command}: timed out after ${opts.timeoutMs} ms`, result);
  }
  if (r.isCanceled) throw new ProcessError(`${command}: stopped (no longer needed)`, result);
  if (result.exitCode !== 0 && !opts.allowFailure) {
    const why =
      r.exitCode === undefined
        ? `failed to start (${r.shortMessage ?? r.message})`
        : `exited with ${result.exitCode}`;
    const tail = lastLines(redactText(result.stderr || result.stdout, redact));
    throw new ProcessError(`${command}: ${why}${tail ? `\n${tail}` : ""}`, result);
  }
  return result;
}

export interface StreamOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  /**
   * "pipe" to write to the command's standard input; "ignore" for none; a socket to hand over:
   * its descriptor becomes the command's standard input, and this process stops reading it (node
   * does so at the spawn) while it may still write to it.
   */
  stdin?: "pipe" | "ignore" | Socket;
  /** Descriptors of this process the command gets as its 3, 4, …; the caller still closes its own. */
  fds?: readonly number[];
  /** Stops the command (SIGTERM, then SIGKILL after 5 s) when aborted. */
  signal?: AbortSignal;
}

export interface StreamingProcess {
  readonly stdin: NodeJS.WritableStream | null;
  readonly stdout: NodeJS.ReadableStream;
  readonly stderr: NodeJS.ReadableStream;
  /** The exit code; 128 + n when a signal ended it; -1 when it could not start. */
  readonly exit: Promise<number>;
  kill(): void;
}

/**
 * A command whose output is consumed while it runs (logs that follow, an interactive exec), with
 * its streams handed to the caller. The same runner as `run`, for what cannot be buffered.
 */
export function spawnStreaming(
  file: string,
  args: readonly string[],
  opts: StreamOptions = {},
): StreamingProcess {
  const child = spawn(file, args, {
    cwd: opts.cwd ?? "/",
    env: { ...process.env, ...opts.env },
    stdio: [opts.stdin ?? "ignore", "pipe", "pipe", ...(opts.fds ?? [])],
  });
  let killTimer: NodeJS.Timeout | undefined;
  const kill = () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    killTimer ??= setTimeout(() => child.kill("SIGKILL"), 5_000);
    killTimer.unref();
  };
  opts.signal?.addEventListener("abort", kill, { once: true });
  const exit = new Promise<number>((resolve) => {
    child.once("error", () => resolve(-1));
    child.once("close", (code, signal) => {
      if (killTimer) clearTimeout(killTimer);
      opts.signal?.removeEventListener("abort", kill);
      resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0));
    });
  });
  return {
    stdin: child.stdin,
    stdout: child.stdout as NodeJS.ReadableStream,
    stderr: child.stderr as NodeJS.ReadableStream,
    exit,
    kill,
  };
}
