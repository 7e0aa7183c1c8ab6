// The daemon applies each release in a child process (node-agent/converge/apply-child.ts), with
// the real bundled agent, HAProxy and Docker: the child's statuses reach the channel through the
// daemon, and an apply's process killed mid-apply leaves the daemon running; its next child
// recovers the environment and applies the release.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitForOutcome } from "../../contract/channel/publish";
import { AgentHarness, appManifest } from "./support/agent-harness";
import { testAppImage } from "./support/test-app-image";

const ENV = `child-${Math.random().toString(36).slice(2, 6)}`;
const h = new AgentHarness();
let image = "";

/** The daemon's log lines (JSON) whose message starts with `msg`. */
function logged(msg: string): Record<string, unknown>[] {
  return readFileSync(join(h.root, "agent.log"), "utf8")
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => typeof l.msg === "string" && l.msg.startsWith(msg));
}

beforeAll(async () => {
  image = await testAppImage();
  // Every apply's child of this daemon is killed once, at the health step of its apply.
  process.env.BERTH_AGENT_FAULT_KILL_APPLY_AT = "health";
  try {
    await h.startDaemon({ healthTimeoutSeconds: 30 });
  } finally {
    delete process.env.BERTH_AGENT_FAULT_KILL_APPLY_AT;
  }
}, 300_000);

afterAll(async () => {
  await h.cleanup([ENV]);
}, 120_000);

describe("the daemon's applies in child processes", () => {
  it("survives an apply's process killed mid-apply, and its next child recovers and applies", async () => {
    const daemon = h.daemon?.pid;
    await h.publish(ENV, 1, appManifest({ message: "v1", image }));
    const status = await waitForOutcome(h.channel, {
      nodeId: h.nodeId,
      environmentId: ENV,
      sequence: 1,
      timeoutMs: 180_000,
    });
    expect(status.state, status.error).toBe("applied");
    expect(await h.get("/")).toEqual({ status: 200, body: "v1" });
    // The same daemon throughout: the kill reached only the apply's process.
    expect(h.daemon?.exitCode).toBeNull();
    expect(h.daemon?.pid).toBe(daemon);
    const children = logged("applying in a child process");
    expect(children.length).toBeGreaterThanOrEqual(2);
    for (const c of children) expect(c.pid).not.toBe(daemon);
    expect(logged("the apply's process ended before it finished")[0]).toMatchObject({
      environment: ENV,
      sequence: 1,
      signal: "SIGKILL",
    });
    expect(children.at(-1)).toMatchObject({ environment: ENV, sequence: 1, recover: true });
    // Nothing of the killed attempt is left beside the release that runs.
    const left = (await h.containers(ENV)).map((c) => `${c.service}:${c.state}`).sort();
    expect(left).toEqual(["store:running", "web:running"]);
  }, 300_000);

  it("applies the next release in a new child, and an idle poll starts none", async () => {
    const before = logged("applying in a child process").length;
    await h.publish(ENV, 2, appManifest({ message: "v2", image }));
    const status = await waitForOutcome(h.channel, {
      nodeId: h.nodeId,
      environmentId: ENV,
      sequence: 2,
      timeoutMs: 180_000,
    });
    expect(status.state, status.error).toBe("applied");
    expect(await h.get("/")).toEqual({ status: 200, body: "v2" });
    const after = logged("applying in a child process");
    expect(after.slice(before).map((c) => c.sequence)).toEqual([2]);
    // Polls every 0.5 s: a few seconds of them, and no further child.
    const polled = Date.now() + 3_000;
    while (Date.now() < polled) await new Promise((r) => setTimeout(r, 250));
    expect(logged("applying in a child process")).toHaveLength(after.length);
  }, 300_000);
});
