import { describe, expect, it } from "vitest";
import type { EnvironmentStatus } from "../../contract/channel/status";
import { observe, silentAfterSeconds } from "./observed";

const now = new Date("2026-12-06T08:00:00.000Z");
const at = (secondsAgo: number) => new Date(now.getTime() - secondsAgo * 1000).toISOString();
const status = (over: Partial<EnvironmentStatus> = {}): EnvironmentStatus => ({
  formatVersion: 1,
  nodeId: "n1",
  environmentId: "demo",
  appliedSequence: 4,
  attemptedSequence: 4,
  state: "applied",
  services: [],
  heartbeat: { at: at(3), agentVersion: "1.2.3", intervalSeconds: 5 },
  updatedAt: at(3),
  ...over,
});
const o = { nodeId: "n1", environmentId: "demo", sequence: 4, now };

describe("observe", () => {
  it("a node that runs the state's release and heartbeats: running", () => {
    expect(observe({ ok: true, status: status() }, o)).toEqual({
      running: true,
      detail: "demo on n1: running release 4",
      appliedSequence: 4,
      lastSeen: at(3),
      agentVersion: "1.2.3",
    });
  });
  it("a silent node: drift, with how long", () => {
    const s = status({ heartbeat: { at: at(60), agentVersion: "1", intervalSeconds: 5 } });
    const r = observe({ ok: true, status: s }, o);
    expect(r.running).toBe(false);
    expect(r.detail).toContain("silent for 60 s");
    expect(silentAfterSeconds(5)).toBe(20);
  });
  it("another release, no status, a status that does not verify, a removed environment: drift", () => {
    expect(observe({ ok: true, status: status({ appliedSequence: 3 }) }, o).detail).toContain(
      "runs release 3, not release 4",
    );
    expect(observe(undefined, o).running).toBe(false);
    const forged = observe({ ok: false, reason: "the status is not signed" }, o);
    expect(forged).toMatchObject({ running: false, detail: expect.stringContaining("not signed") });
    expect(observe({ ok: true, status: status({ state: "removed" }) }, o).running).toBe(false);
  });
});
