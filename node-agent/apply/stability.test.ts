import { describe, expect, it } from "vitest";
import type { ContainerRun } from "../compose/commands";
import { failedOneOff, oneOffFailureMessage, stability } from "./stability";

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
    expect(stability(["migrate"], [run("migrate", 100, "exited", 1, "no")], T, 2000)).toMatchObject({
      kind: "failed",
      service: "migrate",
      state: "exited",
      exitCode: 1,
      oneOff: { service: "migrate", exitCode: 1 },
    });
  });

  it("checks every replica of a service", () => {
    expect(
      stability(["worker"], [run("worker", 3000), run("worker", 3000, "exited", 1)], T, 2000),
    ).toMatchObject({ kind: "failed", exitCode: 1 });
  });
});

describe("a failed one-off", () => {
  it("is a one-off that exited non-zero, or is being restarted after it (on-failure)", () => {
    expect(failedOneOff([run("web", 5000), run("migrate", 100, "exited", 3, "no")])?.service).toBe("migrate");
    expect(failedOneOff([run("migrate", 100, "restarting", 1, "on-failure")])?.exitCode).toBe(1);
    expect(failedOneOff([run("migrate", 100, "exited", 0, "no")])).toBeUndefined();
    // A long-running service that exited is not a one-off: stability() reports it.
    expect(failedOneOff([run("web", 100, "exited", 3, "unless-stopped")])).toBeUndefined();
  });

  it("fails the stability check at once, with its exit code", () => {
    const v = stability(["migrate"], [run("migrate", 100, "exited", 3, "no")], T, 2000);
    expect(v).toMatchObject({ kind: "failed", service: "migrate", exitCode: 3 });
  });

  it("is told by its service, exit code and last log lines", () => {
    const r = run("migrate", 100, "exited", 3, "no");
    expect(oneOffFailureMessage(r, '\x1b[2Kapplying 0003\n\x1b[2Krelation "users" already exists\n')).toBe(
      'service migrate exited with code 3 (a one-off, restart: "no"): its last log lines:\napplying 0003\nrelation "users" already exists',
    );
    expect(oneOffFailureMessage({ ...r, restartPolicy: "on-failure" }, "")).toBe(
      "service migrate exited with code 3 (a one-off, restart: on-failure): it wrote no log lines",
    );
  });
});
