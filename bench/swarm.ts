// bench:swarm — Docker Swarm on the test bed (three engines in their own network namespaces,
// 1 manager + 2 workers; test/system/support/swarm-engines.ts), in one run:
//   apply: berth's apply of a release (node-agent/swarm/apply.ts: re-check, secrets and configs,
//          docker stack deploy, convergence read through the Engine API) against a plain
//          `docker stack deploy` of the same file with its secrets and configs already made,
//          timed to the same convergence (every task running and healthy), images already on
//          every node, runs interleaved, medians. The ratio is the last line.
//   recover: one worker's engine killed; time until web is back at its declared replicas.
// Failed requests while a node is lost are not measured: no node proxy routes to a swarm yet
// (issue 23, traffic), and requests straight to the tasks would measure something else.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { secretVersion } from "../contract/swarm/names";
import { renderSwarmStack } from "../contract/swarm/render";
import type { DockerRunner } from "../node-agent/docker";
import { applySwarmRelease, readStackState } from "../node-agent/swarm/apply";
import { swarmApp } from "../test/system/support/swarm-app";
import { type BedNode, formSwarm, startSwarmBed } from "../test/system/support/swarm-engines";
import { testAppImage } from "../test/system/support/test-app-image";

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const list = (xs: number[]) => xs.map((x) => (x / 1000).toFixed(2)).join(" ");
const SECRET = "bench-secret-value";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const image = await testAppImage();
  const bed = await startSwarmBed(3);
  const dir = mkdtempSync(join(tmpdir(), "berth-bench-swarm-"));
  try {
    const { managers, workers } = await formSwarm(bed, 1);
    const manager = managers[0] as BedNode;
    const docker: DockerRunner = (c, o = {}) =>
      bed.docker(manager, c.args, { allowFailure: o.allowFailure, timeoutMs: o.timeoutMs, input: o.input });
    for (const n of bed.nodes) await bed.docker(n, ["pull", "--quiet", image], { timeoutMs: 300_000 });
    const volumeNode = bed.nodes[1] as BedNode;
    const render = (env: string, sequence: number) => {
      const r = renderSwarmStack(swarmApp(image), {
        environmentId: env,
        sequence,
        images: { web: image, store: image },
        volumeNodes: { data: volumeNode.name },
        secretVersions: { "api-token": secretVersion(Buffer.alloc(32, 5), env, "api-token", SECRET) },
        encryptNetworks: false,
      });
      const file = join(dir, `${env}.json`);
      writeFileSync(file, r.text);
      return { ...r, file };
    };
    const removeStack = async (stack: string) => {
      await docker({ file: "docker", args: ["stack", "rm", stack] }, { allowFailure: true });
      for (let i = 0; i < 120; i++) {
        const left = await docker({
          file: "docker",
          args: ["network", "ls", "--filter", `label=com.docker.stack.namespace=${stack}`, "--quiet"],
        });
        const tasks = await docker({
          file: "docker",
          args: ["ps", "--quiet", "--filter", `label=com.docker.stack.namespace=${stack}`],
        });
        if (left.stdout.trim() === "" && tasks.stdout.trim() === "") return;
        await sleep(250);
      }
    };
    const berthRuns: number[] = [];
    const plainRuns: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      // plain: its secret and config made beforehand, then deploy and wait for the same convergence.
      const plain = render(`plain${i}`, 1);
      for (const sec of plain.extras.secrets)
        await docker({ file: "docker", args: ["secret", "create", sec.name, "-"] }, { input: SECRET });
      for (const c of plain.extras.configs)
        await docker({ file: "docker", args: ["config", "create", c.name, "-"] }, { input: c.content });
      let t0 = Date.now();
      await docker({
        file: "docker",
        args: ["stack", "deploy", "--compose-file", plain.file, "--detach=true", plain.extras.stack],
      });
      for (;;) {
        const st = await readStackState(docker, plain.extras);
        if (st.converged) break;
        if (Date.now() - t0 > 180_000)
          throw new Error(`plain deploy did not converge: ${JSON.stringify(st.services)}`);
        await sleep(250);
      }
      plainRuns.push(Date.now() - t0);
      await removeStack(plain.extras.stack);

      const mine = render(`berth${i}`, 1);
      t0 = Date.now();
      const r = await applySwarmRelease(docker, {
        file: mine.file,
        environmentId: `berth${i}`,
        secretValues: { "api-token": SECRET },
        timeoutMs: 180_000,
        pollMs: 250,
      });
      if (r.outcome !== "applied") throw new Error(`berth's apply: ${r.outcome}: ${r.reason}`);
      berthRuns.push(Date.now() - t0);
      if (i < RUNS - 1) await removeStack(mine.extras.stack);
    }

    // One worker lost: how long until web is back at 3 running replicas on the nodes left.
    const last = render(`berth${RUNS - 1}`, 1);
    const victim = workers.find((w) => w.name !== volumeNode.name) ?? (workers[0] as BedNode);
    const t0 = Date.now();
    await bed.kill(victim);
    let recoverMs = Number.NaN;
    for (;;) {
      const st = await readStackState(docker, last.extras);
      const web = st.services.find((x) => x.service === "web");
      if (web && web.running === 3 && !web.nodes.includes(victim.name)) {
        recoverMs = Date.now() - t0;
        break;
      }
      if (Date.now() - t0 > 180_000) break;
      await sleep(250);
    }
    console.log(`swarm-apply-plain: ${s(median(plainRuns))} (runs: ${list(plainRuns)})`);
    console.log(`swarm-apply-berth: ${s(median(berthRuns))} (runs: ${list(berthRuns)})`);
    console.log(
      `swarm-recover: ${Number.isNaN(recoverMs) ? "not back within 180 s" : s(recoverMs)} (web back at 3 replicas after worker ${victim.name} was killed)`,
    );
    console.log("swarm-failed-requests: not measured (no node proxy routes to a swarm yet)");
    console.log(`swarm: ${(median(berthRuns) / median(plainRuns)).toFixed(2)}x apply (target 1.2x)`);
  } finally {
    await bed.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
