import { describe, expect, it } from "vitest";
import { CPU_ACTIVE_FRACTION, cpuActive, idleDecision, WorkspaceActivity } from "./idle";

describe("process activity from CPU samples", () => {
  it("counts CPU time above the fraction of one core as activity, the keep-alive loop below it not", () => {
    const prev = { atMs: 10_000, cpuNanos: 5e9 };
    // 10 s of a busy loop: 10 s of CPU.
    expect(cpuActive(prev, { atMs: 20_000, cpuNanos: 15e9 })).toBe(true);
    // The devcontainer's `while sleep 1` loop: a few ms a second.
    expect(cpuActive(prev, { atMs: 20_000, cpuNanos: 5e9 + 10 * 3e6 })).toBe(false);
    // Just above and just below the threshold.
    const ns = (f: number) => 5e9 + f * 10_000 * 1e6;
    expect(cpuActive(prev, { atMs: 20_000, cpuNanos: ns(CPU_ACTIVE_FRACTION * 1.1) })).toBe(true);
    expect(cpuActive(prev, { atMs: 20_000, cpuNanos: ns(CPU_ACTIVE_FRACTION * 0.9) })).toBe(false);
  });

  it("has no verdict without a previous sample; a counter that went back is a restart (activity)", () => {
    expect(cpuActive(undefined, { atMs: 1, cpuNanos: 1e12 })).toBe(false);
    expect(cpuActive({ atMs: 5, cpuNanos: 1 }, { atMs: 5, cpuNanos: 1e12 })).toBe(false);
    expect(cpuActive({ atMs: 1, cpuNanos: 1e9 }, { atMs: 2, cpuNanos: 10 })).toBe(true);
  });
});

describe("when a workspace is idle", () => {
  const base = { nowMs: 100_000, idleTimeoutSeconds: 30, openSessions: 0, lastActiveMs: 70_000 };

  it("stops after the whole timeout without activity, and says since when it was idle", () => {
    expect(idleDecision(base)).toEqual({ stop: true, idleSinceMs: 70_000 });
    expect(idleDecision({ ...base, lastActiveMs: 70_001 })).toEqual({ stop: false });
  });

  it("never stops with a session open, or with a timeout of 0", () => {
    expect(idleDecision({ ...base, openSessions: 1, lastActiveMs: 0 })).toEqual({ stop: false });
    expect(idleDecision({ ...base, idleTimeoutSeconds: 0, lastActiveMs: 0 })).toEqual({ stop: false });
  });
});

describe("a workspace's activity", () => {
  it("counts sessions, takes activity from them and from CPU samples, and starts unseen workspaces now", () => {
    let now = 1_000;
    const a = new WorkspaceActivity(() => now);
    expect(a.lastActiveMs("w")).toBe(1_000);
    now = 5_000;
    a.sessionStarted("w");
    a.sessionStarted("w");
    expect(a.openSessions("w")).toBe(2);
    expect(a.lastActiveMs("w")).toBe(5_000);
    now = 9_000;
    a.sessionEnded("w");
    a.sessionEnded("w");
    a.sessionEnded("w");
    expect(a.openSessions("w")).toBe(0);
    expect(a.lastActiveMs("w")).toBe(9_000);
    a.observe("w", { atMs: 10_000, cpuNanos: 1e9 });
    a.observe("w", { atMs: 20_000, cpuNanos: 1e9 + 1e6 });
    expect(a.lastActiveMs("w")).toBe(9_000);
    a.observe("w", { atMs: 30_000, cpuNanos: 9e9 });
    expect(a.lastActiveMs("w")).toBe(30_000);
    now = 40_000;
    a.forget("w");
    expect(a.lastActiveMs("w")).toBe(40_000);
    // Forgotten samples: the next one has nothing to compare with.
    a.observe("w", { atMs: 50_000, cpuNanos: 1e12 });
    expect(a.lastActiveMs("w")).toBe(40_000);
  });
});

describe("a workspace's activity across an agent restart", () => {
  it("records the last activity and sample, restores them, and reports each change that moved the clock", () => {
    let now = 10_000;
    let changes = 0;
    const a = new WorkspaceActivity(
      () => now,
      () => changes++,
    );
    a.sessionStarted("w");
    expect(changes).toBe(1);
    a.observe("w", { atMs: 11_000, cpuNanos: 1e9 });
    // The first sample compares with nothing: no activity, no change.
    expect(changes).toBe(1);
    now = 20_000;
    a.heartbeat();
    expect(changes).toBe(2);
    expect(a.record()).toEqual({ w: { lastActiveMs: 20_000, sample: { atMs: 11_000, cpuNanos: 1e9 } } });
    // A new agent: the clock goes on; the kept sample compares with the next one.
    now = 100_000;
    const b = new WorkspaceActivity(() => now);
    b.restore(a.record());
    expect(b.lastActiveMs("w")).toBe(20_000);
    b.observe("w", { atMs: 100_000, cpuNanos: 1e9 + 80e9 });
    expect(b.lastActiveMs("w")).toBe(100_000);
    // A last activity in the future (the clock went back) counts from now, never later.
    const c = new WorkspaceActivity(() => 5_000);
    c.restore({ w: { lastActiveMs: 50_000 } });
    expect(c.lastActiveMs("w")).toBe(5_000);
    // Heartbeats only for open sessions; forgetting an unknown workspace is no change.
    a.sessionEnded("w");
    const before = changes;
    a.heartbeat();
    a.forget("nobody");
    expect(changes).toBe(before);
  });
});
