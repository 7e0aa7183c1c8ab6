// Crash safety with the real bundled agent: SIGKILL at 23 points spread over an apply (9 in a
// first release, 10 in an upgrade, 4 inside the rollback of a failed upgrade). After a restart
// every case converges to the desired release (or finishes its rollback) and leaves no container
// of a half-started release.
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitForOutcome } from "../../contract/channel/publish";
import { run } from "../../lib/process";
import { AgentHarness, appManifest } from "./support/agent-harness";
import { REPO_ROOT } from "./support/pulumi-project";
import { testAppImage } from "./support/test-app-image";

const h = new AgentHarness();
// Environment ids unique to this run: Compose project names are global to the Docker Engine, and
// another checkout's test run may share it.
const RUN = Math.random().toString(36).slice(2, 6);
const UPGRADE = `upgrade-${RUN}`;
const UPGRADE_HOST = `${UPGRADE}.test`;
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
// Inside the rollback of a failed upgrade (apply.ts: before it, after the proxy is back on the
// previous release, after the failed release's containers are gone, after the store is restored).
const ROLLBACK_STEPS = ["rollback", "rollback:switched-back", "rollback:new-stopped", "rollback:done"];

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

/** How many times the environment's store has started (it appends a line to its volume each time). */
function storeStarts(env: string): number {
  const file = join(h.volumeRoot, `berth-env-${env}`, "volumes", "data", "data", "starts");
  return readFileSync(file, "utf8").trim().split("\n").length;
}

/** STORE_VERSION of the environment's running store, if its definition sets one. */
async function storeVersion(env: string): Promise<string | undefined> {
  const ids = await run("docker", ["ps", "-q", "--filter", `label=com.docker.compose.project=berth_${env}`]);
  const id = ids.stdout.trim().split("\n")[0] ?? "";
  const out = await run("docker", ["inspect", "--format", "{{json .Config.Env}}", id]);
  const vars = JSON.parse(out.stdout) as string[];
  return vars.find((v) => v.startsWith("STORE_VERSION="))?.slice("STORE_VERSION=".length);
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
    // The node reports an upgrade applied before it stops the previous release (a kill at stop-old
    // comes after that report): the restarted agent's recovery removes what is left of it.
    const want = [`berth_${env}/store`, `berth_${env}_r${seq}/web`];
    const names = async () => (await h.containers(env)).map((c) => `${c.project}/${c.service}`).sort();
    for (let end = Date.now() + 30_000; Date.now() < end; ) {
      if (JSON.stringify(await names()) === JSON.stringify(want)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(await names(), `containers after a kill at ${step}`).toEqual(want);
    expect(h.agent.store(env).current()).toBe(seq);
  } finally {
    await stopAgent(agent);
  }
}

beforeAll(async () => {
  image = await testAppImage();
  await h.start({ healthTimeoutSeconds: 20 });
}, 600_000);
afterAll(async () => {
  await h.cleanup(envs);
}, 300_000);

describe("the agent killed during an apply", () => {
  it.each(FIRST_RELEASE_STEPS)("converges after a kill at %s of a first release", async (step) => {
    const env = `first-${RUN}-${envs.length}`;
    envs.push(env);
    await crashAndConverge(env, 1, `${env}.test`, step);
  });

  it("converges after a kill at each of the 10 steps of an upgrade", async () => {
    const env = UPGRADE;
    envs.push(env);
    const status = await h.deploy(env, 1, appManifest({ message: "v1", image, host: UPGRADE_HOST }));
    expect(status.state).toBe("applied");
    let seq = 1;
    for (const step of UPGRADE_STEPS) {
      seq++;
      await crashAndConverge(env, seq, UPGRADE_HOST, step);
    }
  });

  // A release whose web never becomes healthy and whose store changed: the kill lands inside its
  // rollback. At restart the agent finishes the rollback (it never tries the failed release again):
  // the previous web keeps serving, the store is back on the previous release's definition.
  it.each(ROLLBACK_STEPS)(
    "finishes a rollback killed at %s: the previous release keeps serving",
    async (step) => {
      const env = UPGRADE;
      const current = h.agent.store(env).current() as number;
      const seq = h.agent.store(env).highestSeen() + 1; // above the failed releases too
      const startsBefore = storeStarts(env);
      await h.publish(
        env,
        seq,
        appManifest({
          message: "broken",
          image,
          host: UPGRADE_HOST,
          broken: true,
          storeVersion: `broken-${seq}`,
        }),
      );
      const doomed = startAgent(step);
      expect(await exited(doomed, 120_000), `killed at ${step}`).toBe("SIGKILL");
      const agent = startAgent();
      try {
        const status = await waitForOutcome(h.channel, {
          nodeId: h.nodeId,
          environmentId: env,
          sequence: seq,
          timeoutMs: 120_000,
        });
        expect(status.state, `${status.error}`).toBe("rolled-back");
        expect(status.appliedSequence).toBe(current);
        expect(status.error).toMatch(
          new RegExp(`release ${seq} failed and was rolled back to release ${current}: .*web`),
        );
        expect(await h.get("/", UPGRADE_HOST)).toEqual({ status: 200, body: `v${current}` });
        const cs = await h.containers(env);
        expect(cs.map((c) => `${c.project}/${c.service}/${c.state}`).sort()).toEqual([
          `berth_${env}/store/running`,
          `berth_${env}_r${current}/web/running`,
        ]);
        expect(await storeVersion(env)).toBeUndefined();
        // Started once on the failed release's definition and once back on the previous one:
        // the restarted agent did not try the failed release again.
        expect(storeStarts(env) - startsBefore).toBe(2);
        expect(h.agent.store(env).current()).toBe(current);
      } finally {
        await stopAgent(agent);
      }
    },
  );
});
