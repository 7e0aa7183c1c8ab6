import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { acquireLock, LockHeldError } from "./lock";

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
});
