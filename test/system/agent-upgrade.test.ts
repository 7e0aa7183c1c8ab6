// Agent upgrades on a running node, with the real bundled agent as a process of its own (exec
// mode: the local node's way; systemd nodes differ only in who starts the new file) and 4
// keep-alive clients on the app throughout: v2 takes over within the bound with no failed
// request; a bundle that crashes at start is rolled back to the running agent, the reason in the
// agent's status; one that does not load is never swapped in; an older one and one signed by an
// untrusted key are refused. The app's containers and HAProxy are never touched.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { Agent as HttpAgent } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentBundleObjects } from "../../components/deployment-node/agent-bundle";
import { waitForOutcome } from "../../contract/channel/publish";
import { generateSigningKeyPair, type SigningKeyPair } from "../../contract/payload";
import type { AgentStatus } from "../../contract/trust";
import { alive } from "../../lib/pid";
import { readAgentPid } from "../../node-agent/upgrade/record";
import { agentBundleOf, builtAgentBundle, crashingBundle, unloadableBundle } from "./support/agent-bundles";
import { AgentHarness, appManifest, httpGet } from "./support/agent-harness";
import { testAppImage } from "./support/test-app-image";

const ENV = `upgrade-agent-${Math.random().toString(36).slice(2, 6)}`;
const HOST = `${ENV}.test`;
const REPORT_WITHIN_SECONDS = 30;
const CLIENTS = 4;
const h = new AgentHarness();
let image = "";
let bundleFile = "";
let first: ChildProcess | undefined;
let v2 = "";

function publishBundle(text: string, version: string, signer: SigningKeyPair = h.signing) {
  return Promise.all(
    agentBundleObjects(text, signer.privateKey, "agent/berth-agent.js", version).map((o) =>
      h.channel.put(o.key, o.body),
    ),
  );
}

/** The agent's status, verified with the node's status key (a forged one throws). */
const agentStatus = () => h.agentStatus();

async function waitForAgent(what: string, test: (s: AgentStatus) => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  let last: AgentStatus | undefined;
  for (let n = 0; n < 10_000 && Date.now() < deadline; n++) {
    last = await agentStatus();
    if (last && test(last)) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  const log = readFileSync(join(h.root, "agent.log"), "utf8").split("\n").slice(-15).join("\n");
  throw new Error(`${what} within ${timeoutMs} ms; agent status: ${JSON.stringify(last)}\nlog:\n${log}`);
}

/** 4 keep-alive clients on the app until stopped; every answer must be 200 from a known release. */
function clients(bodies: Set<string>) {
  const agent = new HttpAgent({ keepAlive: true, maxSockets: CLIENTS });
  const failures: string[] = [];
  let ok = 0;
  let stop = false;
  const one = async () => {
    const deadline = Date.now() + 240_000;
    for (let n = 0; n < 200_000 && !stop && Date.now() < deadline; n++) {
      try {
        const r = await httpGet(h.proxyPort, "/", HOST, agent);
        if (r.status === 200 && bodies.has(r.body)) ok++;
        else failures.push(`HTTP ${r.status}: ${r.body.slice(0, 60)}`);
      } catch (e) {
        failures.push((e as Error).message);
      }
    }
  };
  const all = Array.from({ length: CLIENTS }, () => one());
  return {
    async done() {
      stop = true;
      await Promise.all(all);
      agent.destroy();
      return { ok, failures };
    },
  };
}

beforeAll(async () => {
  image = await testAppImage();
  await h.start({
    healthTimeoutSeconds: 30,
    upgrade: { restart: "exec", reportWithinSeconds: REPORT_WITHIN_SECONDS },
  });
  mkdirSync(join(h.root, "bin"));
  bundleFile = join(h.root, "bin", "berth-agent.js");
  writeFileSync(bundleFile, builtAgentBundle(), { mode: 0o755 });
  const out = openSync(join(h.root, "agent.log"), "a");
  first = spawn(process.execPath, [bundleFile, "run", "--config", h.configFile], {
    env: { ...process.env, BERTH_LOG_LEVEL: "info" },
    stdio: ["ignore", out, out],
  });
  await h.publish(ENV, 1, appManifest({ message: "v1", image, host: HOST }));
  const s = await waitForOutcome(h.channel, {
    nodeId: h.nodeId,
    environmentId: ENV,
    sequence: 1,
    timeoutMs: 120_000,
  });
  expect(s.state, s.error).toBe("applied");
  v2 = await agentBundleOf("0.2.0");
}, 600_000);

afterAll(async () => {
  for (const pid of [readAgentPid(h.stateRoot), first?.pid]) {
    if (alive(pid)) process.kill(pid as number, "SIGTERM");
  }
  for (let n = 0; n < 100 && alive(readAgentPid(h.stateRoot)); n++)
    await new Promise((r) => setTimeout(r, 100));
  await h.cleanup([ENV]);
});

describe("agent upgrades on a running node", () => {
  it("v2 takes over within the bound, with 0 failed requests from 4 keep-alive clients", async () => {
    const before = readAgentPid(h.stateRoot);
    const load = clients(new Set(["v1", "v2"]));
    const started = Date.now();
    await publishBundle(v2, "0.2.0");
    const s = await waitForAgent(
      "agent 0.2.0 did not report as installed",
      (st) => st.agentVersion === "0.2.0" && st.upgrade?.state === "installed",
      (REPORT_WITHIN_SECONDS + 30) * 1000,
    );
    const tookMs = Date.now() - started;
    expect(s.upgrade).toMatchObject({ version: "0.2.0", from: "0.1.0" });
    expect(tookMs).toBeLessThan(REPORT_WITHIN_SECONDS * 1000);
    const after = readAgentPid(h.stateRoot);
    expect(after).not.toBe(before);
    expect(alive(after)).toBe(true);
    expect(readFileSync(bundleFile, "utf8")).toBe(v2);
    // The new agent does its work: the next release is applied by it, under the same load.
    await h.publish(ENV, 2, appManifest({ message: "v2", image, host: HOST }));
    const r = await waitForOutcome(h.channel, {
      nodeId: h.nodeId,
      environmentId: ENV,
      sequence: 2,
      timeoutMs: 120_000,
    });
    expect(r.state, r.error).toBe("applied");
    await new Promise((res) => setTimeout(res, 500));
    const { ok, failures } = await load.done();
    console.log(
      `agent-upgrade: 0.1.0 → 0.2.0 reported in ${(tookMs / 1000).toFixed(1)} s (bound ${REPORT_WITHIN_SECONDS} s); ${ok + failures.length} requests, ${failures.length} failed`,
    );
    expect(failures.slice(0, 5)).toEqual([]);
    expect(ok).toBeGreaterThan(100);
  }, 300_000);

  it("a bundle that crashes at start is rolled back: v2 runs again, the reason in the status", async () => {
    const load = clients(new Set(["v2"]));
    await publishBundle(crashingBundle("0.3.0"), "0.3.0");
    const s = await waitForAgent(
      "the crashing agent 0.3.0 was not rolled back",
      (st) => st.upgrade?.state === "rolled-back" && st.agentVersion === "0.2.0",
      (REPORT_WITHIN_SECONDS + 30) * 1000,
    );
    expect(s.upgrade?.version).toBe("0.3.0");
    expect(s.upgrade?.reason).toMatch(/agent 0\.3\.0 (exited before it reported|did not report within)/);
    // What the crashing agent printed, so the operator sees why without logging in.
    expect(s.upgrade?.reason).toMatch(/it said: berth-agent: cannot start: this bundle is broken on purpose/);
    expect(s.upgrade?.reason).toMatch(/back on 0\.2\.0/);
    expect(readFileSync(bundleFile, "utf8")).toBe(v2);
    // The watchdog reports the rollback, then starts the restored agent and records its pid: the
    // status can be read between the two (CI at 5bec6eb read the crashed agent's pid there).
    const until = Date.now() + 15_000;
    while (Date.now() < until && !alive(readAgentPid(h.stateRoot)))
      await new Promise((r) => setTimeout(r, 100));
    expect(alive(readAgentPid(h.stateRoot))).toBe(true);
    // The restored agent keeps working (and does not try 0.3.0 again).
    await h.publish(ENV, 3, appManifest({ message: "v2", image, host: HOST, storeVersion: "3" }));
    const r = await waitForOutcome(h.channel, {
      nodeId: h.nodeId,
      environmentId: ENV,
      sequence: 3,
      timeoutMs: 120_000,
    });
    expect(r.state, r.error).toBe("applied");
    expect((await agentStatus())?.upgrade?.state).toBe("rolled-back");
    const { ok, failures } = await load.done();
    expect(failures.slice(0, 5)).toEqual([]);
    expect(ok).toBeGreaterThan(10);
  }, 300_000);

  it("a bundle that does not load is refused before anything is swapped", async () => {
    const pid = readAgentPid(h.stateRoot);
    await publishBundle(unloadableBundle(), "0.4.0");
    const s = await waitForAgent("0.4.0 was not refused", (st) => st.upgrade?.version === "0.4.0", 30_000);
    expect(s.upgrade).toMatchObject({ state: "refused" });
    expect(s.upgrade?.reason).toMatch(/BAD_BUNDLE: agent 0\.4\.0 was not installed: it does not start/);
    expect(readAgentPid(h.stateRoot)).toBe(pid);
    expect(readFileSync(bundleFile, "utf8")).toBe(v2);
  }, 60_000);

  it("an older bundle is refused: never a downgrade", async () => {
    const pid = readAgentPid(h.stateRoot);
    await publishBundle(await agentBundleOf("0.1.5"), "0.1.5");
    const s = await waitForAgent("0.1.5 was not refused", (st) => st.upgrade?.version === "0.1.5", 30_000);
    expect(s.upgrade).toMatchObject({ state: "refused" });
    expect(s.upgrade?.reason).toMatch(/^NOT_NEWER: agent 0\.1\.5 is not newer than 0\.2\.0/);
    expect(readAgentPid(h.stateRoot)).toBe(pid);
    expect(readFileSync(bundleFile, "utf8")).toBe(v2);
  }, 60_000);

  it("a bundle signed by a key the node does not trust is refused", async () => {
    const pid = readAgentPid(h.stateRoot);
    await publishBundle(await agentBundleOf("0.5.0"), "0.5.0", generateSigningKeyPair());
    const s = await waitForAgent(
      "the untrusted bundle was not refused",
      (st) => /BAD_BUNDLE: the manifest of agent 0\.5\.0/.test(st.upgrade?.reason ?? ""),
      30_000,
    );
    expect(s.upgrade?.state).toBe("refused");
    expect(readAgentPid(h.stateRoot)).toBe(pid);
    expect(readFileSync(bundleFile, "utf8")).toBe(v2);
  }, 60_000);
});
