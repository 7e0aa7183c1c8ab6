import { existsSync, mkdirSync, mkdtempSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LockHeldError } from "./lock";
import { ReleaseStore } from "./release-store";

function store() {
  return new ReleaseStore(mkdtempSync(join(tmpdir(), "berth-store-")), "prod");
}
const meta = (sequence: number) => ({
  sequence,
  receivedAt: "2026-11-25T00:00:00Z",
  project: `prod-${sequence}`,
});

describe("ReleaseStore", () => {
  it("saves releases with the Compose file readable only by the agent", () => {
    const s = store();
    s.save(1, { payload: "{}", compose: "services: {}\n", metadata: meta(1) });
    expect(s.readCompose(1)).toBe("services: {}\n");
    expect(statSync(s.composePath(1)).mode & 0o777).toBe(0o600);
    expect(statSync(s.releaseDir(1)).mode & 0o777).toBe(0o700);
    expect(s.sequences()).toEqual([1]);
  });

  it("has no current release until one is set, then points at it", () => {
    const s = store();
    expect(s.current()).toBeUndefined();
    s.save(3, { payload: "{}", compose: "", metadata: meta(3) });
    s.setCurrent(3);
    expect(s.current()).toBe(3);
    expect(s.highestSeen()).toBe(3);
    s.setCurrent(undefined);
    expect(s.current()).toBeUndefined();
  });

  it("ignores a half-written release folder left by a crash", () => {
    const s = store();
    mkdirSync(`${s.releaseDir(7)}.partial`, { recursive: true });
    mkdirSync(s.releaseDir(8), { recursive: true });
    writeFileSync(join(s.releaseDir(8), "payload.json"), "{}");
    expect(s.sequences()).toEqual([]);
    expect(s.highestSeen()).toBe(0);
  });

  it("refuses a second apply of the same environment", () => {
    const s = store();
    const lock = s.lock();
    expect(() => s.lock()).toThrow(LockHeldError);
    expect(() => s.lock()).toThrow(/an apply of environment prod is already running/);
    lock.release();
    s.lock().release();
  });

  it("prunes old releases but keeps the current one", () => {
    const s = store();
    for (const n of [1, 2, 3, 4, 5]) s.save(n, { payload: "{}", compose: "", metadata: meta(n) });
    s.setCurrent(1);
    s.prune(2);
    expect(s.sequences()).toEqual([1, 4, 5]);
    expect(existsSync(s.releaseDir(2))).toBe(false);
  });
});
