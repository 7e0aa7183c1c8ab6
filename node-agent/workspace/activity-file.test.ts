import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createLogger } from "../../lib/log";
import { PersistedActivity, parseActivityFile, renderActivityFile } from "./activity-file";

let dir = "";
let logged: string[] = [];
const log = () =>
  createLogger(
    "activity-test",
    new Writable({
      write(chunk, _enc, cb) {
        logged.push(String(chunk));
        cb();
      },
    }),
  );

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "berth-activity-"));
  logged = [];
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
});
afterEach(() => {
  vi.useRealTimers();
  rmSync(dir, { recursive: true, force: true });
});

describe("the workspaces' activity on disk", () => {
  it("coalesces changes into one write, and a new agent reads the idle clock back", () => {
    const path = join(dir, "workspace-activity.json");
    let now = 1_000_000;
    const first = new PersistedActivity({ path, log: log(), coalesceMs: 5_000, now: () => now });
    first.activity.sessionStarted("w");
    now += 10;
    first.activity.sessionEnded("w");
    first.activity.observe("w", { atMs: now, cpuNanos: 7e9 });
    // Many changes, no write yet.
    expect(first.writes).toBe(0);
    vi.advanceTimersByTime(5_000);
    expect(first.writes).toBe(1);
    expect(parseActivityFile(readFileSync(path, "utf8"))).toEqual({
      ok: true,
      workspaces: { w: { lastActiveMs: 1_000_010, sample: { atMs: 1_000_010, cpuNanos: 7e9 } } },
    });
    // A quiet CPU sample is no change: no write.
    now += 60_000;
    first.activity.observe("w", { atMs: now, cpuNanos: 7e9 + 1e6 });
    vi.advanceTimersByTime(10_000);
    expect(first.writes).toBe(1);
    // The agent restarts an hour later: the clock goes on from the last activity, not from now.
    now += 3_600_000;
    const second = new PersistedActivity({ path, log: log(), coalesceMs: 5_000, now: () => now });
    expect(second.activity.lastActiveMs("w")).toBe(1_000_010);
    // A workspace the file does not name counts from now, as before.
    expect(second.activity.lastActiveMs("other")).toBe(now);
  });

  it("flush writes what is pending at once, and nothing when nothing is", () => {
    const path = join(dir, "workspace-activity.json");
    const p = new PersistedActivity({ path, log: log(), coalesceMs: 60_000, now: () => 42 });
    p.flush();
    expect(p.writes).toBe(0);
    p.activity.touch("w");
    p.flush();
    expect(p.writes).toBe(1);
    expect(JSON.parse(readFileSync(path, "utf8")).workspaces.w.lastActiveMs).toBe(42);
    vi.advanceTimersByTime(60_000);
    expect(p.writes).toBe(1);
  });

  it("ignores and reports an unreadable file: the clocks count from the start", () => {
    const path = join(dir, "workspace-activity.json");
    writeFileSync(path, '{"formatVersion":1,"workspaces":{"w":{"lastActiveMs":"soon"}}}');
    const p = new PersistedActivity({ path, log: log(), now: () => 9_000 });
    expect(p.activity.lastActiveMs("w")).toBe(9_000);
    expect(logged.join("")).toContain("workspaces.w.lastActiveMs");
    writeFileSync(path, "{");
    new PersistedActivity({ path, log: log(), now: () => 9_000 });
    expect(logged.join("")).toContain("not JSON");
  });

  it("round-trips its own rendering", () => {
    const w = { a: { lastActiveMs: 5 }, b: { lastActiveMs: 6, sample: { atMs: 6, cpuNanos: 1 } } };
    expect(parseActivityFile(renderActivityFile(w))).toEqual({ ok: true, workspaces: w });
  });
});
