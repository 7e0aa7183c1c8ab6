// readStackState against a recording runner: a task Swarm pruned between the listing and the
// inspect (it does so while an update runs) is history, not a failed read.
import { describe, expect, it } from "vitest";
import { recordingRunner } from "../testing/recording-runner";
import { readStackState } from "./apply";

const extras = {
  environmentId: "shop",
  sequence: 2,
  stack: "berth-shop",
  secrets: [],
  configs: [],
  pins: [],
  replicas: { web: 1 },
};
const service = { ID: "s1", Spec: { Name: "berth-shop_web", Mode: { Replicated: { Replicas: 1 } } } };
const task = {
  ID: "t1",
  ServiceID: "s1",
  NodeID: "n1",
  DesiredState: "running",
  Status: { State: "running" },
};
const node = { ID: "n1", Description: { Hostname: "web-1" }, Spec: { Labels: {} } };

function runner(inspectTasks: { stdout: string; stderr: string; exitCode: number }) {
  return recordingRunner((argv) => {
    const a = argv.slice(1).join(" ");
    if (a.startsWith("service ls")) return { stdout: "s1\n" };
    if (a.startsWith("service inspect")) return { stdout: JSON.stringify([service]) };
    if (a.startsWith("stack ps")) return { stdout: "t1\nt0\n" };
    if (a.startsWith("inspect --type task")) return inspectTasks;
    if (a.startsWith("node ls")) return { stdout: "n1\n" };
    if (a.startsWith("node inspect")) return { stdout: JSON.stringify([node]) };
    return undefined;
  });
}

describe("readStackState", () => {
  it("a task pruned since the listing is left out, not a failure", async () => {
    const r = runner({
      stdout: JSON.stringify([task]),
      stderr: "Error response from daemon: task t0 not found\n",
      exitCode: 1,
    });
    const st = await readStackState(r.run, extras);
    expect(st.converged).toBe(true);
    expect(st.services[0]).toMatchObject({ service: "web", running: 1, nodes: ["web-1"] });
  });

  it("any other inspect failure is an error with Docker's words", async () => {
    const r = runner({ stdout: "", stderr: "Cannot connect to the Docker daemon\n", exitCode: 1 });
    await expect(readStackState(r.run, extras)).rejects.toThrow(
      /docker inspect of the stack's tasks failed: Cannot connect to the Docker daemon/,
    );
  });
});
