// bench:apply — the agent's apply overhead: time from a release appearing in the channel to the
// node reporting it applied (healthy), divided by a plain `docker compose up -d --wait` of the
// same rendered file with the images already present, measured in the same run. Then the failed
// requests during 5 upgrades under keep-alive load through the node proxy.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Agent as HttpAgent } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitForOutcome } from "../contract/channel/publish";
import { renderNodeCompose } from "../contract/render/node-compose";
import { run } from "../lib/process";
import { AgentHarness, appManifest, httpGet } from "../test/system/support/agent-harness";
import { testAppImage } from "../test/system/support/test-app-image";

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function main() {
  const image = await testAppImage();
  const h = new AgentHarness();
  await h.start({ healthTimeoutSeconds: 60 });
  const envs: string[] = [];
  try {
    // Baseline: the same rendered file, brought up by hand.
    const m = appManifest({ message: "baseline", image });
    const env = "bench-base";
    envs.push(env);
    const rendered = renderNodeCompose(m, {
      environmentId: env,
      sequence: 1,
      images: { web: image, store: image },
      volumeRoot: join(h.root, "baseline-volumes"),
    });
    const dir = mkdtempSync(join(tmpdir(), "berth-bench-apply-"));
    const file = join(dir, "compose.yaml");
    writeFileSync(file, rendered.text);
    const secretEnv = Object.fromEntries(
      Object.values(rendered.extras.secrets).map((v) => [v, "token-value"]),
    );
    for (const n of rendered.extras.networks)
      await run("docker", ["network", "create", "--label", `berth.environment=${env}`, n.name]);
    for (const v of rendered.extras.volumes) {
      await run("mkdir", ["-p", v.device]);
      await run("docker", [
        "volume",
        "create",
        "--label",
        `berth.environment=${env}`,
        "--opt",
        "type=none",
        "--opt",
        "o=bind",
        "--opt",
        `device=${v.device}`,
        v.name,
      ]);
    }
    const base: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t = Date.now();
      await run("docker", ["compose", "-p", `bench_${i}`, "-f", file, "up", "-d", "--wait"], {
        env: secretEnv,
        timeoutMs: 300_000,
      });
      base.push(Date.now() - t);
      await run("docker", ["compose", "-p", `bench_${i}`, "down", "-t", "1"]);
    }
    rmSync(dir, { recursive: true, force: true });

    // The agent: a first release, then upgrades, each timed from publish to the node's report.
    const agentEnv = "bench-apply";
    envs.push(agentEnv);
    const firsts: number[] = [];
    const upgrades: number[] = [];
    await h.deploy(agentEnv, 1, appManifest({ message: "v1", image, host: "bench.test" }));
    for (let i = 0; i < RUNS; i++) {
      const seq = i + 2;
      const t = Date.now();
      await h.publish(agentEnv, seq, appManifest({ message: `v${seq}`, image, host: "bench.test" }));
      await h.agent.pollOnce();
      const s = await waitForOutcome(h.channel, {
        nodeId: h.nodeId,
        environmentId: agentEnv,
        sequence: seq,
        timeoutMs: 120_000,
      });
      if (s.state !== "applied") throw new Error(`release ${seq}: ${s.state} ${s.error}`);
      upgrades.push(Date.now() - t);
    }
    for (let i = 0; i < Math.min(RUNS, 3); i++) {
      const e = `bench-first-${i}`;
      envs.push(e);
      const t = Date.now();
      await h.deploy(e, 1, appManifest({ message: "v1", image, host: `${e}.test` }));
      firsts.push(Date.now() - t);
    }

    // Failed requests during 5 upgrades under keep-alive load.
    const agent = new HttpAgent({ keepAlive: true, maxSockets: 4 });
    let ok = 0;
    let failed = 0;
    let stop = false;
    const client = async () => {
      for (let n = 0; n < 500_000 && !stop; n++) {
        try {
          (await httpGet(h.proxyPort, "/", "bench.test", agent)).status === 200 ? ok++ : failed++;
        } catch {
          failed++;
        }
      }
    };
    const clients = [client(), client(), client(), client()];
    for (let i = 0; i < 5; i++) {
      const seq = RUNS + 2 + i;
      await h.deploy(agentEnv, seq, appManifest({ message: `v${seq}`, image, host: "bench.test" }));
    }
    stop = true;
    await Promise.all(clients);
    agent.destroy();

    const b = median(base);
    const up = median(upgrades);
    const first = median(firsts);
    console.log(
      `baseline docker compose up -d --wait (images present): median ${(b / 1000).toFixed(2)} s of ${RUNS}`,
    );
    console.log(
      `agent, first release (publish → applied): median ${(first / 1000).toFixed(2)} s → ${(first / b).toFixed(2)}x`,
    );
    console.log(
      `agent, upgrade (publish → applied, start-first, switch, drain, stop old): median ${(up / 1000).toFixed(2)} s → ${(up / b).toFixed(2)}x`,
    );
    console.log(`apply-failed-requests: ${failed} of ${ok + failed} over 5 upgrades (target 0)`);
    console.log(`apply: ${(first / b).toFixed(2)}x (target 1.3x)`);
  } finally {
    await h.cleanup(envs);
  }
}

main().catch((e) => {
  console.error(`bench:apply: ${(e as Error).message}`);
  process.exit(1);
});
