import { describe, expect, it } from "vitest";
import type { ContainerRun } from "../compose/commands";
import { stability } from "./stability";

const T = Date.parse("2026-12-06T11:00:00.000Z");
const run = (
  service: string,
  startedMsAgo: number,
  state = "running",
  exitCode = 0,
  restartPolicy = "unless-stopped",
): ContainerRun => ({
  service,
  state,
  startedAt: T - startedMsAgo,
  exitCode,
  restartPolicy,
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

  it("counts a one-off that exited 0 and is not restarted as done (service_completed_successfully)", () => {
    expect(stability(["migrate"], [run("migrate", 100, "exited", 0, "no")], T, 2000)).toEqual({
      kind: "stable",
    });
    expect(
      stability(
        ["migrate", "worker"],
        [run("migrate", 50, "exited", 0, "on-failure"), run("worker", 1500)],
        T,
        2000,
      ),
    ).toEqual({ kind: "wait", ms: 500 });
    // Exit 0 under a policy that restarts it, or a failure under any: not done.
    expect(stability(["migrate"], [run("migrate", 100, "exited", 0, "always")], T, 2000)).toMatchObject({
      kind: "failed",
      state: "exited",
    });
    expect(stability(["migrate"], [run("migrate", 100, "exited", 1, "no")], T, 2000)).toEqual({
      kind: "failed",
      service: "migrate",
      state: "exited",
      exitCode: 1,
    });
  });

  it("checks every replica of a service", () => {
    expect(
      stability(["worker"], [run("worker", 3000), run("worker", 3000, "exited", 1)], T, 2000),
    ).toMatchObject({ kind: "failed", exitCode: 1 });
  });
});
