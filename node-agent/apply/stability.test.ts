import { describe, expect, it } from "vitest";
import type { ContainerRun } from "../compose/commands";
import { stability } from "./stability";

const T = Date.parse("2026-12-06T11:00:00.000Z");
const run = (service: string, startedMsAgo: number, state = "running", exitCode = 0): ContainerRun => ({
  service,
  state,
  startedAt: T - startedMsAgo,
  exitCode,
});

describe("stability", () => {
  it("counts from each container's own start: one that ran while others were awaited needs no wait", () => {
    expect(stability(["worker"], [run("worker", 2300)], T, 2000)).toEqual({ kind: "stable" });
  });

  it("waits only what the youngest container still lacks", () => {
    expect(stability(["worker", "cron"], [run("worker", 1500), run("cron", 400)], T, 2000)).toEqual({
      kind: "wait",
      ms: 1600,
    });
  });

  it("starts the count again after a restart (a new StartedAt)", () => {
    expect(stability(["worker"], [run("worker", 100)], T, 2000)).toEqual({ kind: "wait", ms: 1900 });
  });

  it("fails a service that exited, with its exit code, or that is restarting or absent", () => {
    expect(stability(["worker"], [run("worker", 3000, "exited", 3)], T, 2000)).toEqual({
      kind: "failed",
      service: "worker",
      state: "exited",
      exitCode: 3,
    });
    expect(stability(["worker"], [run("worker", 3000, "restarting")], T, 2000)).toEqual({
      kind: "failed",
      service: "worker",
      state: "restarting",
    });
    expect(stability(["worker"], [run("web", 3000)], T, 2000)).toEqual({
      kind: "failed",
      service: "worker",
      state: "absent",
    });
  });

  it("checks every replica of a service", () => {
    expect(
      stability(["worker"], [run("worker", 3000), run("worker", 3000, "exited", 1)], T, 2000),
    ).toMatchObject({ kind: "failed", exitCode: 1 });
  });
});
