// Crash safety with the real bundled agent, shared by agent-crash-{first,upgrade,rollback}.test.ts:
// SIGKILL at 23 points spread over an apply (9 in a first release, 10 in an upgrade, 4 inside the
// rollback of a failed upgrade). After a restart every case converges to the desired release (or
// finishes its rollback) and leaves no container of a half-started release. Three files, each
// with its own agent, HAProxy and environments, so that they run side by side.
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect } from "vitest";
import { waitForOutcome } from "../../../contract/channel/publish";
import type { EnvironmentStatus } from "../../../contract/channel/status";
import { AGENT_ENVIRONMENT, agentRunArgs } from "../../../contract/node/agent-process";
import { run } from "../../../lib/process";
import { AgentHarness, appManifest } from "./agent-harness";
import { REPO_ROOT } from "./pulumi-project";
import { testAppImage } from "./test-app-image";

export const FIRST_RELEASE_STEPS = [
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
export const UPGRADE_STEPS = [...FIRST_RELEASE_STEPS, "stop-old"];
// Inside the rollback of a failed upgrade (apply.ts: before it, after the proxy is back on the
// previous release, after the failed release's containers are gone, after the store is restored).
export const ROLLBACK_STEPS = ["rollback", "rollback:switched-back", "rollback:new-stopped", "rollback:done"];

/**
 * One agent (its own state, HAProxy on a free port, folder channel) for the calling test file,
 * started in its beforeAll and cleaned up in its afterAll.
 */
export function crashSuite() {
  const h = new AgentHarness();
  // Environment ids unique to this run: Compose project names are global to the Docker Engine,
  // and other files (and other checkouts) run beside this one.
  const run_ = Math.random().toString(36).slice(2, 6);
  const envs: string[] = [];
  let image = "";

  beforeAll(async () => {
    image = await testAppImage();
    await h.start({ healthTimeoutSeconds: 20 });
  }, 600_000);
  afterAll(async () => {
    await h.cleanup(envs);
  }, 300_000);

  function startAgent(killAt?: string): ChildProcess {
    // Started as every node starts it (contract/node/agent-process.ts): its flags and malloc settings.
    return spawn(process.execPath, agentRunArgs(join(REPO_ROOT, "dist", "berth-agent.js"), h.configFile), {
      env: {
        ...process.env,
        ...AGENT_ENVIRONMENT,
        BERTH_LOG_LEVEL: "warn",
        ...(killAt ? { BERTH_AGENT_FAULT_KILL_AT: killAt } : {}),
      },
      stdio: ["ignore", "ignore", "pipe"],
    });
  }

  function exited(p: ChildProcess, timeoutMs: number): Promise<NodeJS.Signals | number | null> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`the agent did not exit within ${timeoutMs} ms`)),
        timeoutMs,
      );
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

  /** Kills the agent at `step` of the release just published, then waits on a restarted one. */
  async function killThenRestart(
    env: string,
    seq: number,
    step: string,
  ): Promise<{
    status: EnvironmentStatus;
    agent: ChildProcess;
  }> {
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
      return { status, agent };
    } catch (e) {
      await stopAgent(agent);
      throw e;
    }
  }

  return {
    h,
    envs,
    /** An environment id of this file: `<kind>-<run>-<n>`. */
    newEnv(kind: string): string {
      const env = `${kind}-${run_}-${envs.length}`;
      envs.push(env);
      return env;
    },
    image: () => image,
    stopAgent,
    killThenRestart,

    /** How many times the environment's store has started (it appends a line to its volume each time). */
    storeStarts(env: string): number {
      const file = join(h.volumeRoot, `berth-env-${env}`, "volumes", "data", "data", "starts");
      return readFileSync(file, "utf8").trim().split("\n").length;
    },

    /** STORE_VERSION of the environment's running store, if its definition sets one. */
    async storeVersion(env: string): Promise<string | undefined> {
      const ids = await run("docker", [
        "ps",
        "-q",
        "--filter",
        `label=com.docker.compose.project=berth_${env}`,
        "--filter",
        "label=com.docker.compose.service=store",
      ]);
      const id = ids.stdout.trim().split("\n")[0] ?? "";
      const out = await run("docker", ["inspect", "--format", "{{json .Config.Env}}", id]);
      const vars = JSON.parse(out.stdout) as string[];
      return vars.find((v) => v.startsWith("STORE_VERSION="))?.slice("STORE_VERSION=".length);
    },

    /** Kill at `step` while applying `seq`, restart, and check the environment converged. */
    async crashAndConverge(env: string, seq: number, host: string, step: string): Promise<void> {
      await h.publish(env, seq, appManifest({ message: `v${seq}`, image, host }));
      const { status, agent } = await killThenRestart(env, seq, step === "switch" ? `switch:${host}` : step);
      try {
        expect(status.state, `${env} after a kill at ${step}: ${status.error}`).toBe("applied");
        expect(await h.get("/", host)).toEqual({ status: 200, body: `v${seq}` });
        // The node reports an upgrade applied before it stops the previous release (a kill at
        // stop-old comes after that report): the restarted agent's recovery removes what is left of it.
        // Where the release runs its web (a first release: the long-lived project, with the store).
        const web = h.agent.store(env).readMetadata(seq).projects?.web ?? `berth_${env}_r${seq}`;
        const want = [`berth_${env}/store`, `${web}/web`];
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
    },
  };
}
