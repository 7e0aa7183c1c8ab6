// Crash safety with the real bundled agent: SIGKILL at 20 points spread over an apply (9 in a
// first release, 10 in an upgrade, 1 in a rollback). After a restart every case converges to the
// desired release and leaves no container of a half-started release.
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readStatus, waitForOutcome } from "../../contract/channel/publish";
import { run } from "../../lib/process";
import { AgentHarness, appManifest } from "./support/agent-harness";
import { REPO_ROOT } from "./support/pulumi-project";
import { testAppImage } from "./support/test-app-image";

const h = new AgentHarness();
let image = "";
const envs: string[] = [];
const FIRST_RELEASE_STEPS = [
  "resources",
  "pull",
  "stateful-up",
  "stateless-up",
  "health",
  "routes",
  "switch",
  "commit",
  "drain",
];
const UPGRADE_STEPS = [...FIRST_RELEASE_STEPS, "stop-old"];

function startAgent(killAt?: string): ChildProcess {
  return spawn(
    process.execPath,
    [join(REPO_ROOT, "dist", "berth-agent.js"), "run", "--config", h.configFile],
    {
      env: {
        ...process.env,
        BERTH_LOG_LEVEL: "warn",
        ...(killAt ? { BERTH_AGENT_FAULT_KILL_AT: killAt } : {}),
      },
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
}

function exited(p: ChildProcess, timeoutMs: number): Promise<NodeJS.Signals | number | null> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`the agent did not exit within ${timeoutMs} ms`)), timeoutMs);
    p.once("exit", (code, signal) => {
      clearTimeout(t);
      resolve(signal ?? code);
    });
  });
}

async function stopAgent(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  p.kill("SIGTERM");
  await exited(p, 30_000);
}

/** Kill at `step` while applying `seq`, restart, and check the environment converged. */
async function crashAndConverge(env: string, seq: number, host: string, step: string): Promise<void> {
  await h.publish(env, seq, appManifest({ message: `v${seq}`, image, host }));
  const doomed = startAgent(step === "switch" ? `switch:${host}` : step);
  expect(await exited(doomed, 120_000), `killed at ${step}`).toBe("SIGKILL");
  const agent = startAgent();
  try {
    const status = await waitForOutcome(h.channel, {
      nodeId: h.nodeId,
      environmentId: env,
      sequence: seq,
      timeoutMs: 120_000,
    });
    expect(status.state, `${env} after a kill at ${step}: ${status.error}`).toBe("applied");
    expect(await h.get("/", host)).toEqual({ status: 200, body: `v${seq}` });
    const cs = await h.containers(env);
    expect(cs.map((c) => `${c.project}/${c.service}`).sort(), `containers after a kill at ${step}`).toEqual([
      `berth_${env}/store`,
      `berth_${env}_r${seq}/web`,
    ]);
    expect(h.agent.store(env).current()).toBe(seq);
  } finally {
    await stopAgent(agent);
  }
}

beforeAll(async () => {
  await run("bash", [join(REPO_ROOT, "scripts", "build.sh")]);
  image = await testAppImage();
  await h.start({ healthTimeoutSeconds: 20 });
}, 600_000);
afterAll(async () => {
  await h.cleanup(envs);
}, 300_000);

describe("the agent killed during an apply", () => {
  it.each(FIRST_RELEASE_STEPS)("converges after a kill at %s of a first release", async (step) => {
    const env = `first-${envs.length}`;
    envs.push(env);
    await crashAndConverge(env, 1, `${env}.test`, step);
  });

  it("converges after a kill at each of the 10 steps of an upgrade", async () => {
    const env = "upgrade";
    envs.push(env);
    const status = await h.deploy(env, 1, appManifest({ message: "v1", image, host: "upgrade.test" }));
    expect(status.state).toBe("applied");
    let seq = 1;
    for (const step of UPGRADE_STEPS) {
      seq++;
      await crashAndConverge(env, seq, "upgrade.test", step);
    }
  });

  it("converges after a kill during a rollback: the previous release keeps serving", async () => {
    const env = "upgrade";
    const current = h.agent.store(env).current() as number;
    const seq = current + 1;
    await h.publish(env, seq, appManifest({ message: "broken", image, host: "upgrade.test", broken: true }));
    const doomed = startAgent("rollback");
    expect(await exited(doomed, 120_000)).toBe("SIGKILL");
    const agent = startAgent();
    try {
      const status = await waitForOutcome(h.channel, {
        nodeId: h.nodeId,
        environmentId: env,
        sequence: seq,
        timeoutMs: 120_000,
      });
      expect(status.state).toBe("rolled-back");
      expect(await h.get("/", "upgrade.test")).toEqual({ status: 200, body: `v${current}` });
      const cs = await h.containers(env);
      expect(cs.map((c) => `${c.project}/${c.service}`).sort()).toEqual([
        `berth_${env}/store`,
        `berth_${env}_r${current}/web`,
      ]);
      expect((await readStatus(h.channel, h.nodeId, env))?.appliedSequence).toBe(current);
    } finally {
      await stopAgent(agent);
    }
  });
});
