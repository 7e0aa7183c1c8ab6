import { spawn } from "node:child_process";
import { mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Duplex } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import {
  CHECKER_COMMAND,
  CheckerReader,
  type CheckOutcome,
  ContainerChecker,
  ContainerCheckers,
  checkerRequest,
  MAX_CHECK_OUTPUT,
} from "./container-checker";
import { readCheckCommand, writeCheckCommand } from "./copy-checks";
import type { WorkspaceContainer } from "./workspace-container";

/** One frame of the engine's multiplexed stream (1 stdout, 2 stderr). */
const frame = (kind: 1 | 2, data: Buffer | string) => {
  const b = Buffer.from(data);
  const h = Buffer.alloc(8);
  h[0] = kind;
  h.writeUInt32BE(b.length, 4);
  return Buffer.concat([h, b]);
};

/**
 * The kept shell run by this machine's sh, seen as an exec's stream: what is written goes to its
 * stdin, its stdout and stderr come back in the engine's frames. `kill` ends the shell.
 */
function localShell(command: readonly string[] = CHECKER_COMMAND) {
  const p = spawn(command[0] as string, command.slice(1), { stdio: ["pipe", "pipe", "pipe"] });
  const stream = new Duplex({
    read() {},
    write(chunk, _enc, cb) {
      p.stdin.write(chunk, cb);
    },
    final(cb) {
      p.stdin.end(cb);
    },
    destroy(err, cb) {
      p.kill();
      cb(err);
    },
  });
  p.stdout.on("data", (d: Buffer) => stream.push(frame(1, d)));
  p.stderr.on("data", (d: Buffer) => stream.push(frame(2, d)));
  p.stdin.on("error", () => {});
  p.on("exit", () => stream.push(null));
  return { stream, kill: () => p.kill("SIGKILL"), process: p };
}

const shells: ReturnType<typeof localShell>[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const s of shells.splice(0)) s.process.kill("SIGKILL");
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const shell = (command?: readonly string[]) => {
  const s = localShell(command);
  shells.push(s);
  return s;
};
const W: WorkspaceContainer = { id: "c0ffee", user: "dev", folder: "/workspaces/x", address: undefined };

describe("CheckerReader", () => {
  it("has an outcome only once both streams carry the tag, in frames split anywhere", () => {
    const r = new CheckerReader();
    const tag = "ab".repeat(16);
    const bytes = Buffer.concat([
      frame(1, "1000\n"),
      frame(2, "warn\n"),
      frame(1, `1000\n${tag} 0\n`),
      frame(2, `${tag}\n`),
    ]);
    r.feed(bytes.subarray(0, 5));
    r.feed(bytes.subarray(5, 30));
    expect(r.outcome(tag)).toBeUndefined();
    r.feed(bytes.subarray(30, bytes.length - 3));
    expect(r.outcome(tag)).toBeUndefined();
    r.feed(bytes.subarray(bytes.length - 3));
    expect(r.outcome(tag)).toEqual({ stdout: "1000\n1000\n", stderr: "warn\n", exitCode: 0 });
    expect(r.holdsAnything()).toBe(false);
    // Another command's tag does not end this one.
    r.feed(Buffer.concat([frame(1, `${"cd".repeat(16)} 0\n`), frame(2, `${"cd".repeat(16)}\n`)]));
    expect(r.outcome(tag)).toBeUndefined();
  });

  it("refuses more output than a check may print", () => {
    const r = new CheckerReader();
    const big = "x".repeat(32 * 1024);
    expect(() => {
      for (let i = 0; i < 4; i++) r.feed(frame(1, big));
    }).toThrow(/more than its bound/);
    expect(MAX_CHECK_OUTPUT).toBe(64 * 1024);
  });
});

describe("the kept shell (this machine's sh)", () => {
  it("runs each command with its arguments as given, one at a time, with exit codes", async () => {
    const c = ContainerChecker.over(shell().stream);
    const odd = [" lead", "trail ", "a\\b", "$(echo no)", "'q\"", "", "*"];
    const [a, b, e] = await Promise.all([
      c.run(["printf", "%s|", ...odd], 10_000),
      c.run(["sh", "-c", "echo out; echo err >&2; exit 7"], 10_000),
      c.run(["sh", "-c", "printf no-newline"], 10_000),
    ]);
    expect(a).toEqual({ stdout: `${odd.join("|")}|`, stderr: "", exitCode: 0 });
    expect(b).toEqual({ stdout: "out\n", stderr: "err\n", exitCode: 7 });
    expect(e).toEqual({ stdout: "no-newline", stderr: "", exitCode: 0 });
    c.end();
  });

  it("answers the write and read checks as a one-shot exec would", async () => {
    const dir = mkdtempSync(join(tmpdir(), "berth-checker-"));
    dirs.push(dir);
    const c = ContainerChecker.over(shell().stream);
    const ok = await c.run(writeCheckCommand(dir, "f.bin"), 10_000);
    expect(ok.exitCode).toBe(0);
    const [resolved, uid, gid] = ok.stdout.trim().split("\n");
    expect([resolved, Number(uid), Number(gid)]).toEqual([
      realpathSync(dir),
      process.getuid?.(),
      process.getgid?.(),
    ]);
    const missing = await c.run(writeCheckCommand(join(dir, "nope"), "f.bin"), 10_000);
    expect(missing).toMatchObject({ exitCode: 1, stderr: `no folder ${join(dir, "nope")}\n` });
    const folder = await c.run(readCheckCommand(dir), 10_000);
    expect(folder).toMatchObject({ exitCode: 1, stderr: `${dir} is a folder, not a file\n` });
    c.end();
  });

  it("fails the check in flight when the shell dies, and every later one", async () => {
    const s = shell();
    const c = ContainerChecker.over(s.stream);
    const hanging = c.run(["sleep", "30"], 60_000);
    await new Promise((r) => setTimeout(r, 100));
    s.kill();
    await expect(hanging).rejects.toThrow(/checking shell ended/);
    expect(c.alive).toBe(false);
    await expect(c.run(["true"], 10_000)).rejects.toThrow();
  });

  it("ends a shell that prints what it was not asked for, or takes longer than the bound", async () => {
    // A shell that speaks first (as something in the container writing into its output).
    const chatty = ContainerChecker.over(
      shell(["sh", "-c", 'echo hello; exec sh -c "$0"', ...CHECKER_COMMAND.slice(2, 3)]).stream,
    );
    await expect.poll(() => chatty.alive, { timeout: 10_000 }).toBe(false);
    await expect(chatty.run(["true"], 10_000)).rejects.toThrow(/not asked for/);
    const slow = ContainerChecker.over(shell().stream);
    await expect(slow.run(["sleep", "30"], 200)).rejects.toThrow(/did not end within 0.2 s/);
    expect(slow.alive).toBe(false);
  });

  it("the request holds the arguments one per line", () => {
    expect(checkerRequest("t", ["sh", "-c", "x y"])).toBe("t\n3\nsh\n-c\nx y\n");
  });
});

describe("ContainerCheckers", () => {
  const counting = () => {
    const calls = { started: 0, oneShot: 0, latest: undefined as ReturnType<typeof localShell> | undefined };
    const checkers = new ContainerCheckers({
      socketPath: "/nonexistent",
      start: async () => {
        calls.started++;
        calls.latest = shell();
        return ContainerChecker.over(calls.latest.stream);
      },
      oneShot: async (_s, _w, command): Promise<CheckOutcome> => {
        calls.oneShot++;
        return { stdout: `one-shot ${command.join(" ")}`, stderr: "", exitCode: 0 };
      },
    });
    return { calls, checkers };
  };

  it("starts one shell per container and keeps it for the next checks", async () => {
    const { calls, checkers } = counting();
    for (let i = 0; i < 3; i++) expect((await checkers.run(W, ["echo", String(i)])).stdout).toBe(`${i}\n`);
    await checkers.run({ ...W, id: "other" }, ["true"]);
    expect(calls).toMatchObject({ started: 2, oneShot: 0 });
    checkers.close();
  });

  it("a shell that died: the check goes to a one-shot exec, the next starts a new shell", async () => {
    const { calls, checkers } = counting();
    await checkers.run(W, ["true"]);
    calls.latest?.kill();
    await new Promise((r) => calls.latest?.process.once("exit", r));
    expect((await checkers.run(W, ["echo", "a"])).stdout).toMatch(/^(one-shot echo a|a\n)$/);
    expect((await checkers.run(W, ["echo", "b"])).stdout).toBe("b\n");
    expect(calls.started).toBe(2);
    checkers.close();
  });

  it("an argument with a line break goes to a one-shot exec", async () => {
    const { calls, checkers } = counting();
    expect((await checkers.run(W, ["test", "-w", "a\nb"])).stdout).toBe("one-shot test -w a\nb");
    expect(calls).toMatchObject({ started: 0, oneShot: 1 });
  });

  it("a shell that does not start within the bound: the check goes to a one-shot exec", async () => {
    let oneShot = 0;
    const checkers = new ContainerCheckers({
      socketPath: "/nonexistent",
      timeoutMs: 200,
      start: () => new Promise<never>(() => {}),
      oneShot: async () => {
        oneShot++;
        return { stdout: "one-shot", stderr: "", exitCode: 0 };
      },
    });
    expect((await checkers.run(W, ["true"])).stdout).toBe("one-shot");
    expect(oneShot).toBe(1);
  });

  it("a shell that cannot start: the check goes to a one-shot exec", async () => {
    let oneShot = 0;
    const checkers = new ContainerCheckers({
      socketPath: "/nonexistent",
      start: async () => {
        throw new Error("no such container");
      },
      oneShot: async () => {
        oneShot++;
        return { stdout: "", stderr: "", exitCode: 0 };
      },
    });
    await checkers.run(W, ["true"]);
    await checkers.run(W, ["true"]);
    expect(oneShot).toBe(2);
  });
});
