import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { acquireLock, LockHeldError } from "./lock";
import { currentBootId, startTicksOf } from "./process-identity";

const dir = mkdtempSync(join(tmpdir(), "berth-lock-"));

describe("acquireLock", () => {
  it("refuses a second holder in the same process and frees on release", () => {
    const path = join(dir, "a.lock");
    const lock = acquireLock(path, "an apply of env prod");
    expect(() => acquireLock(path, "an apply of env prod")).toThrow(LockHeldError);
    expect(() => acquireLock(path, "an apply of env prod")).toThrow(
      /an apply of env prod is already running \(pid \d+/,
    );
    lock.release();
    expect(existsSync(path)).toBe(false);
    acquireLock(path, "x").release();
  });

  it("refuses while another live process holds it", async () => {
    const path = join(dir, "b.lock");
    const child = spawn("sleep", ["30"]);
    try {
      writeFileSync(path, JSON.stringify({ pid: child.pid, since: "2026-01-01T00:00:00Z" }));
      expect(() => acquireLock(path, "an apply")).toThrow(`pid ${child.pid}, since 2026-01-01T00:00:00Z`);
    } finally {
      child.kill("SIGKILL");
    }
  });

  it("takes over a lock left by a dead process or half written", async () => {
    const path = join(dir, "c.lock");
    const child = spawn("true");
    await new Promise((r) => child.on("exit", r));
    writeFileSync(path, JSON.stringify({ pid: child.pid, since: "x" }));
    acquireLock(path, "an apply").release();
    writeFileSync(path, "");
    acquireLock(path, "an apply").release();
  });

  it("records the boot and the start time with the pid", () => {
    const path = join(dir, "d.lock");
    const lock = acquireLock(path, "an apply");
    const held = JSON.parse(readFileSync(path, "utf8"));
    expect(held).toMatchObject({
      pid: process.pid,
      bootId: currentBootId(),
      startTicks: startTicksOf(process.pid),
    });
    lock.release();
  });

  it("after a reboot, a lock whose pid is alive again (another process) is taken over", async () => {
    const path = join(dir, "e.lock");
    const child = spawn("sleep", ["30"]);
    try {
      // Written before a reboot by a process that had this pid then.
      writeFileSync(
        path,
        JSON.stringify({ pid: child.pid, bootId: "00000000-0000-0000-0000-000000000000", since: "x" }),
      );
      acquireLock(path, "an apply").release();
      // The same boot, but the pid now belongs to a process that started later than the holder.
      const ticks = startTicksOf(child.pid as number) as number;
      writeFileSync(
        path,
        JSON.stringify({ pid: child.pid, bootId: currentBootId(), startTicks: ticks - 1, since: "x" }),
      );
      acquireLock(path, "an apply").release();
      // The holder itself still runs: refused.
      writeFileSync(
        path,
        JSON.stringify({ pid: child.pid, bootId: currentBootId(), startTicks: ticks, since: "y" }),
      );
      expect(() => acquireLock(path, "an apply")).toThrow(`pid ${child.pid}, since y`);
    } finally {
      child.kill("SIGKILL");
    }
  });
});
