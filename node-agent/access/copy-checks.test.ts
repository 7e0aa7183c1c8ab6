import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { checkedUser, containerPath, partProblem, readCheckCommand, writeCheckCommand } from "./copy-checks";

const dir = mkdtempSync(join(tmpdir(), "berth-copy-checks-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A check run as the test's own user, as the kept shell runs it (stdin closed). */
const check = (command: string[]) => {
  const [file, ...args] = command;
  // Bounded: a synchronous wait is out of reach of vitest's timeout.
  const r = spawnSync(file as string, args, { encoding: "utf8", input: "", timeout: 30_000 });
  if (r.error) throw new Error(`${file}: ${r.error.message}`);
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};

describe("cp's checks", () => {
  it("resolve paths in the working tree", () => {
    expect(containerPath("/workspaces/app", "build/out.bin")).toEqual({
      dir: "/workspaces/app/build",
      name: "out.bin",
    });
    expect(containerPath("/workspaces/app", "/tmp/x.bin")).toEqual({ dir: "/tmp", name: "x.bin" });
    expect(containerPath("/workspaces/app", "../up.txt")).toEqual({ dir: "/workspaces", name: "up.txt" });
  });

  it("write: say where the folder leads, links resolved, and who the user is", () => {
    mkdirSync(join(dir, "real"));
    symlinkSync(join(dir, "real"), join(dir, "via-link"));
    const ok = check(writeCheckCommand(join(dir, "via-link"), "f.bin"));
    expect(ok.code, ok.stderr).toBe(0);
    const [resolved, ...ids] = ok.stdout.trim().split("\n");
    expect(resolved).toBe(realpathSync(join(dir, "real")));
    expect(checkedUser(ids)).toMatchObject({ uid: process.getuid?.(), gid: process.getgid?.() });
    mkdirSync(join(dir, "real", "sub"));
    expect(check(writeCheckCommand(join(dir, "real"), "sub"))).toMatchObject({
      code: 1,
      stderr: `${join(dir, "real")}/sub is not a writable file\n`,
    });
  });

  it("read: a regular file is opened (the kernel answers), and the path comes back resolved", () => {
    writeFileSync(join(dir, "real", "r.txt"), "r");
    symlinkSync(join(dir, "real", "r.txt"), join(dir, "r-link"));
    const ok = check(readCheckCommand(join(dir, "r-link")));
    expect(ok.code, ok.stderr).toBe(0);
    const [resolved, kind, ...ids] = ok.stdout.split("\n");
    expect([resolved, kind]).toEqual([realpathSync(join(dir, "real", "r.txt")), "file"]);
    expect(checkedUser(ids)).toBeDefined();
    expect(check(readCheckCommand(join(dir, "nope")))).toMatchObject({
      code: 1,
      stderr: `${join(dir, "nope")}: no such file\n`,
    });
  });

  it("take an upload's part fields only together and within the file", () => {
    expect(partProblem({ size: 10 })).toBeUndefined();
    expect(partProblem({ size: 10, offset: 0, total: 30, upload: "a".repeat(32) })).toBeUndefined();
    expect(partProblem({ size: 10, offset: 20, total: 30, upload: "a".repeat(32) })).toBeUndefined();
    expect(partProblem({ size: 10, offset: 0 })).toMatch(/come together/);
    expect(partProblem({ size: 10, offset: 25, total: 30, upload: "a".repeat(32) })).toBe(
      "the part (10 bytes from 25) ends after the file's 30 bytes",
    );
    expect(partProblem({ size: 0, offset: 0, total: 30, upload: "a".repeat(32) })).toMatch(
      /at least one byte/,
    );
  });

  it("read what a check printed as a user only when it is one", () => {
    expect(checkedUser(["1000", "1000", "1000 27 100"])).toEqual({
      uid: 1000,
      gid: 1000,
      groups: [1000, 27, 100],
    });
    expect(checkedUser(["1000", "1000", "1000", "extra"])).toEqual({ uid: 1000, gid: 1000, groups: [1000] });
    expect(checkedUser(["x", "1000", "1000"])).toBeUndefined();
    expect(checkedUser(["1000", "1000", ""])).toBeUndefined();
    expect(checkedUser(["1000", "1000", "1000 -1"])).toBeUndefined();
  });
});
