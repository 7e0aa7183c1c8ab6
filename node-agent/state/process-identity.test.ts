import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { type Machine, parseStartTicks, selfIdentity, startTicksOf, stillRunning } from "./process-identity";

const stat = (comm: string, start: number) =>
  `4242 (${comm}) S 1 4242 4242 0 -1 4194560 300 0 0 0 1 2 0 0 20 0 1 0 ${start} 12345 678 18446744073709551615`;

describe("parseStartTicks", () => {
  it("reads field 22, even when the command name holds spaces and parentheses", () => {
    expect(parseStartTicks(stat("node", 987654))).toBe(987654);
    expect(parseStartTicks(stat("a) b (c", 55))).toBe(55);
    expect(parseStartTicks("garbage")).toBeUndefined();
  });

  it("matches this process's own /proc entry", () => {
    const me = selfIdentity();
    expect(me.pid).toBe(process.pid);
    expect(me.bootId).toMatch(/^[0-9a-f-]{36}$/);
    expect(me.startTicks).toBe(startTicksOf(process.pid));
  });
});

describe("stillRunning", () => {
  const machine = (o: Partial<Machine> = {}): Machine => ({
    bootId: () => "boot-b",
    startTicksOf: () => 500,
    alive: () => true,
    ...o,
  });

  it("a lock from before a reboot is stale, though its pid runs again", () => {
    expect(stillRunning({ pid: 4242, bootId: "boot-a", startTicks: 500 }, machine())).toBe(false);
  });

  it("a pid reused by a process that started later is not the holder", () => {
    expect(stillRunning({ pid: 4242, bootId: "boot-b", startTicks: 400 }, machine())).toBe(false);
    expect(stillRunning({ pid: 4242, bootId: "boot-b", startTicks: 500 }, machine())).toBe(true);
  });

  it("a dead pid is stale; a lock written by an older agent (pid only) goes by the pid", () => {
    expect(
      stillRunning({ pid: 4242, bootId: "boot-b", startTicks: 500 }, machine({ alive: () => false })),
    ).toBe(false);
    expect(stillRunning({ pid: 4242 }, machine())).toBe(true);
  });

  it("a real other process is running, and is not once it has exited", async () => {
    const child = spawn("sleep", ["30"]);
    const pid = child.pid as number;
    const holder = { pid, ...(startTicksOf(pid) !== undefined ? { startTicks: startTicksOf(pid) } : {}) };
    expect(stillRunning({ ...holder, bootId: selfIdentity().bootId as string })).toBe(true);
    expect(stillRunning({ ...holder, startTicks: (holder.startTicks ?? 0) + 1 })).toBe(false);
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    expect(stillRunning(holder)).toBe(false);
  });
});
