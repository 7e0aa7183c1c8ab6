// A copy's checks (may the remote user write there? read that?) answered by a shell kept running
// in the workspace's container as that user, in its working tree: one exec per container while
// copies come, rather than one per copy. An exec is the engine's and runc's work of ~50 ms, which
// was most of a small copy's cost (docs/benchmarks.md, bench:access).
//
// The checks are the same commands a one-shot exec ran (docker-archive.ts), each in a process of
// its own, started by the kept shell with its arguments read from the shell's standard input, one
// per line. Their answer comes from the container's own processes as before: the kept shell
// changes how long they live, not whom the agent believes. The agent bounds what it reads (size,
// time) and treats anything it did not ask for as the end of the shell; a command with a line
// break in an argument, a shell that died (the container stopped, or something in it killed the
// shell), or one that broke the protocol gets a one-shot exec instead.
import { randomBytes } from "node:crypto";
import type { Duplex } from "node:stream";
import { execCapture, startExec } from "./docker-api";
import type { WorkspaceContainer } from "./workspace-container";

export interface CheckOutcome {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/**
 * The kept shell: for each request (a tag line, a count line, then that many argument lines), it
 * runs the arguments as a command with no input and then writes `TAG CODE` on stdout and `TAG`
 * on stderr, so the agent knows both streams of that command are complete.
 */
export const CHECKER_SCRIPT = [
  "while IFS= read -r tag && IFS= read -r n; do",
  'case "$n" in ""|*[!0-9]*) exit 2 ;; esac;',
  "set --; i=0;",
  'while [ "$i" -lt "$n" ]; do IFS= read -r a || exit 2; set -- "$@" "$a"; i=$((i + 1)); done;',
  '"$@" </dev/null; code=$?;',
  'printf "%s %s\\n" "$tag" "$code"; printf "%s\\n" "$tag" >&2;',
  "done",
].join(" ");

export const CHECKER_COMMAND = ["sh", "-c", CHECKER_SCRIPT, "berth-checker"];

/** What one check may print, on each stream, at most; more ends the shell. */
export const MAX_CHECK_OUTPUT = 64 * 1024;

/** Whether the kept shell can pass `command` (one line per argument). */
export function checkerCanRun(command: readonly string[]): boolean {
  return command.length > 0 && command.every((a) => !a.includes("\n") && !a.includes("\0"));
}

/** The request the kept shell reads for one command. */
export function checkerRequest(tag: string, command: readonly string[]): string {
  return `${tag}\n${command.length}\n${command.map((a) => `${a}\n`).join("")}`;
}

/**
 * Reads the exec's multiplexed stream (8-byte frame headers: 1 stdout, 2 stderr) and finds where
 * one command's output ends. Pure: fed bytes, it says what it holds.
 */
export class CheckerReader {
  private pending: Buffer = Buffer.alloc(0);
  private out: Buffer[] = [];
  private err: Buffer[] = [];
  private outBytes = 0;
  private errBytes = 0;

  /** Adds bytes of the stream; throws when one stream of a check passed its bound. */
  feed(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= 8) {
      const size = this.pending.readUInt32BE(4);
      if (size > MAX_CHECK_OUTPUT + 64) throw new Error("a check printed more than its bound");
      if (this.pending.length < 8 + size) break;
      const kind = this.pending[0];
      const part = this.pending.subarray(8, 8 + size);
      this.pending = this.pending.subarray(8 + size);
      if (kind === 2) {
        this.err.push(part);
        this.errBytes += part.length;
      } else {
        this.out.push(part);
        this.outBytes += part.length;
      }
      if (this.outBytes > MAX_CHECK_OUTPUT + 64 || this.errBytes > MAX_CHECK_OUTPUT + 64)
        throw new Error("a check printed more than its bound");
    }
  }

  /** Whether anything arrived since the last outcome (nothing should, between checks). */
  holdsAnything(): boolean {
    return this.pending.length > 0 || this.outBytes > 0 || this.errBytes > 0;
  }

  /** The outcome of the command tagged `tag` once both its streams ended, else undefined. */
  outcome(tag: string): CheckOutcome | undefined {
    const stdout = Buffer.concat(this.out).toString("utf8");
    const stderr = Buffer.concat(this.err).toString("utf8");
    const done = new RegExp(`${tag} (\\d{1,3})\n$`).exec(stdout);
    if (!done || !stderr.endsWith(`${tag}\n`)) return undefined;
    this.out = [];
    this.err = [];
    this.outBytes = 0;
    this.errBytes = 0;
    const stripped = (text: string, marker: string) => text.slice(0, text.length - marker.length);
    return {
      stdout: stripped(stdout, `${tag} ${done[1]}\n`),
      stderr: stripped(stderr, `${tag}\n`),
      exitCode: Number(done[1]),
    };
  }
}

/** One kept shell in one container: its commands run one at a time. */
export class ContainerChecker {
  private readonly reader = new CheckerReader();
  private waiting:
    | { tag: string; resolve: (o: CheckOutcome) => void; reject: (e: Error) => void }
    | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private ended: Error | undefined;

  private constructor(private readonly stream: Duplex) {
    // The agent's own work never waits for this shell to end (a check in flight holds a request).
    (stream as Duplex & { unref?: () => void }).unref?.();
    stream.on("data", (chunk: Buffer) => {
      try {
        this.reader.feed(chunk);
      } catch (e) {
        return this.end(e as Error);
      }
      const w = this.waiting;
      if (!w) return this.end(new Error("the checking shell printed something it was not asked for"));
      const o = this.reader.outcome(w.tag);
      if (!o) return;
      this.waiting = undefined;
      w.resolve(o);
    });
    stream.on("end", () => this.end(new Error("the checking shell ended")));
    stream.on("close", () => this.end(new Error("the checking shell ended")));
    stream.on("error", (e) => this.end(e));
  }

  /** The kept shell in `w`'s container, as its remote user, in its folder. */
  static async start(socketPath: string, w: WorkspaceContainer): Promise<ContainerChecker> {
    const { stream } = await startExec(socketPath, {
      container: w.id,
      command: CHECKER_COMMAND,
      user: w.user,
      workingDir: w.folder,
      tty: false,
    });
    return ContainerChecker.over(stream);
  }

  /** A checker over an exec's stream (its stdin, and its output in the engine's frames). */
  static over(stream: Duplex): ContainerChecker {
    return new ContainerChecker(stream);
  }

  get alive(): boolean {
    return this.ended === undefined;
  }

  /** Runs `command` in the kept shell; rejects when the shell ends, breaks the protocol or takes too long. */
  run(command: readonly string[], timeoutMs: number): Promise<CheckOutcome> {
    const next = this.queue.then(() => this.runNow(command, timeoutMs));
    this.queue = next.catch(() => {});
    return next;
  }

  private runNow(command: readonly string[], timeoutMs: number): Promise<CheckOutcome> {
    if (this.ended) return Promise.reject(this.ended);
    if (this.reader.holdsAnything()) {
      const e = new Error("the checking shell printed something it was not asked for");
      this.end(e);
      return Promise.reject(e);
    }
    const tag = randomBytes(16).toString("hex");
    return new Promise<CheckOutcome>((resolve, reject) => {
      const timer = setTimeout(
        () => this.end(new Error(`a check did not end within ${timeoutMs / 1000} s`)),
        timeoutMs,
      );
      this.waiting = {
        tag,
        resolve: (o) => {
          clearTimeout(timer);
          resolve(o);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.stream.write(checkerRequest(tag, command));
    });
  }

  /** Ends the shell (its input closes: it exits) and fails the check in flight. */
  end(why: Error = new Error("the checking shell was closed")): void {
    if (this.ended) return;
    this.ended = why;
    const w = this.waiting;
    this.waiting = undefined;
    w?.reject(why);
    this.stream.end();
    this.stream.destroy();
  }
}

export interface ContainerCheckersOptions {
  socketPath: string;
  /** A kept shell unused this long is ended. */
  idleMs?: number;
  /** A check's bound (the shell is ended when it passes it). */
  timeoutMs?: number;
  /** One-shot exec (tests replace it to see which way a check went). */
  oneShot?: (socketPath: string, w: WorkspaceContainer, command: string[]) => Promise<CheckOutcome>;
  /** Starts a kept shell (tests replace it). */
  start?: (socketPath: string, w: WorkspaceContainer) => Promise<ContainerChecker>;
}

const oneShotExec = (socketPath: string, w: WorkspaceContainer, command: string[]) =>
  execCapture(socketPath, { container: w.id, command, user: w.user, workingDir: w.folder });

/** `p`, or a rejection after `ms`. */
function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms / 1000} s`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** The agent's kept shells, one per workspace container (and its remote user and folder). */
export class ContainerCheckers {
  private readonly live = new Map<string, { checker: Promise<ContainerChecker>; timer?: NodeJS.Timeout }>();
  private readonly idleMs: number;
  private readonly timeoutMs: number;
  private readonly oneShot: NonNullable<ContainerCheckersOptions["oneShot"]>;
  private readonly start: NonNullable<ContainerCheckersOptions["start"]>;

  constructor(private readonly o: ContainerCheckersOptions) {
    this.idleMs = o.idleMs ?? 10 * 60_000;
    this.timeoutMs = o.timeoutMs ?? 30_000;
    this.oneShot = o.oneShot ?? oneShotExec;
    this.start = o.start ?? ((socketPath, w) => ContainerChecker.start(socketPath, w));
  }

  /**
   * Runs a check as the container's remote user in its folder: in the container's kept shell
   * (started on first use), else in a one-shot exec.
   */
  async run(w: WorkspaceContainer, command: string[]): Promise<CheckOutcome> {
    if (!checkerCanRun(command)) return await this.oneShot(this.o.socketPath, w, command);
    const key = JSON.stringify([w.id, w.user, w.folder]);
    let entry = this.live.get(key);
    if (!entry) {
      const checker = this.start(this.o.socketPath, w);
      entry = { checker };
      this.live.set(key, entry);
      checker.catch(() => {
        if (this.live.get(key) === entry) this.live.delete(key);
      });
    }
    const current = entry;
    try {
      const checker = await bounded(current.checker, this.timeoutMs, "the checking shell did not start");
      if (!checker.alive) throw new Error("the checking shell ended");
      const outcome = await checker.run(command, this.timeoutMs);
      this.idle(key, current, checker);
      return outcome;
    } catch {
      // Its shell is gone (or never started): this check in an exec of its own; the next starts
      // a new shell.
      if (this.live.get(key) === current) this.live.delete(key);
      void current.checker.then((c) => c.end()).catch(() => {});
      return await this.oneShot(this.o.socketPath, w, command);
    }
  }

  private idle(key: string, entry: { timer?: NodeJS.Timeout }, checker: ContainerChecker): void {
    clearTimeout(entry.timer);
    entry.timer = setTimeout(() => {
      if (this.live.get(key) === entry) this.live.delete(key);
      checker.end();
    }, this.idleMs);
    entry.timer.unref();
  }

  /** Ends every kept shell. */
  close(): void {
    for (const [key, entry] of this.live) {
      clearTimeout(entry.timer);
      void entry.checker.then((c) => c.end()).catch(() => {});
      this.live.delete(key);
    }
  }
}
