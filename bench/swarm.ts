// bench:swarm — Docker Swarm on the test bed (three engines in their own network namespaces,
// 1 manager + 2 workers; test/system/support/swarm-engines.ts), in one run:
//   apply: berth's apply of a release (node-agent/swarm/apply.ts: re-check, secrets and configs,
//          docker stack deploy, convergence read through the Engine API) against a plain
//          `docker stack deploy` of the same file with its secrets and configs already made,
//          timed to the same convergence (every task running and healthy), images already on
//          every node, runs interleaved, medians. The ratio is the last line.
//   rolling: the environment's proxy on every node (contract/swarm/proxy.ts: a global HAProxy
//          service, one host-mode port per node, routing to the tasks by DNS round robin: this
//          kernel has no IPVS, so no routing mesh and no virtual IPs), 4 keep-alive clients
//          through one node's proxy during 5 rolling upgrades of web (start-first): failed requests.
//   recover: one worker's engine killed under the same load through a surviving node: failed
//          requests (the `swarm-failed-requests` line), for how long, and the time until web is
//          back at its declared replicas.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Agent as HttpAgent } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { secretVersion } from "../contract/swarm/names";
import { renderSwarmStack } from "../contract/swarm/render";
import type { DockerRunner } from "../node-agent/docker";
import { applySwarmRelease, readStackState } from "../node-agent/swarm/apply";
import { getFrom, keepAliveLoad } from "../test/system/support/keepalive-load";
import { swarmApp } from "../test/system/support/swarm-app";
import { type BedNode, formSwarm, startSwarmBed } from "../test/system/support/swarm-engines";
import { fixtureImage, testAppImage } from "../test/system/support/test-app-image";

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const list = (xs: number[]) => xs.map((x) => (x / 1000).toFixed(2)).join(" ");
const SECRET = "bench-secret-value";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PROXY_PORT = 18080;
const HOST = "app.example.com";

/** GET / from a node's proxy with the route's Host, on a keep-alive agent. */
const get = (ip: string, agent: HttpAgent) => getFrom({ ip, port: PROXY_PORT }, HOST, agent);

/** 4 keep-alive clients on one node's proxy until stopped (test/system/support/keepalive-load.ts). */
const load = (target: () => string, accepted: Set<string>) =>
  keepAliveLoad(() => ({ ip: target(), port: PROXY_PORT }), HOST, accepted);

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
    const render = (
      env: string,
      sequence: number,
      o: { message?: string; proxy?: { image: string; port: number }; monitorMs?: number } = {},
    ) => {
      const r = renderSwarmStack(swarmApp(image, undefined, o.message), {
        environmentId: env,
        sequence,
        images: { web: image, store: image },
        volumeNodes: { data: volumeNode.name },
        secretVersions: { "api-token": secretVersion(Buffer.alloc(32, 5), env, "api-token", SECRET) },
        encryptNetworks: false,
        ...(o.proxy ? { proxy: o.proxy } : {}),
        ...(o.monitorMs ? { monitorMs: o.monitorMs } : {}),
      });
      const file = join(dir, `${env}-${sequence}.json`);
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

    // The proxy on every node, then 5 rolling upgrades under load through one node's proxy.
    const proxyImage = await fixtureImage("swarm-proxy", "swarm-proxy:1");
    for (const n of bed.nodes) await bed.docker(n, ["pull", "--quiet", proxyImage], { timeoutMs: 300_000 });
    const env = `berth${RUNS - 1}`;
    const proxy = { image: proxyImage, port: PROXY_PORT };
    // Swarm watches each updated task for `monitor` before it counts the update done; 3 s here (as
    // the swarm tests), berth's default is 30 s.
    const applyVersion = async (sequence: number, message: string) => {
      const r = render(env, sequence, { message, proxy, monitorMs: 3000 });
      const t = Date.now();
      const out = await applySwarmRelease(docker, {
        file: r.file,
        environmentId: env,
        secretValues: { "api-token": SECRET },
        timeoutMs: 180_000,
        pollMs: 250,
      });
      if (out.outcome !== "applied") throw new Error(`release ${sequence}: ${out.outcome}: ${out.reason}`);
      return { extras: r.extras, ms: Date.now() - t };
    };
    let last = (await applyVersion(2, "v2")).extras;
    const entry = manager;
    const accepted = new Set(["v2"]);
    for (let i = 0; ; i++) {
      const probe = await get(entry.ip, new HttpAgent()).catch(() => undefined);
      if (probe?.status === 200 && probe.body === "v2") break;
      if (i > 240) {
        const svc = `${last.stack}_berth-proxy`;
        const ps = await docker(
          {
            file: "docker",
            args: ["service", "ps", "--no-trunc", "--format", "{{.Node}} {{.CurrentState}} {{.Error}}", svc],
          },
          { allowFailure: true },
        );
        const logs = await docker(
          { file: "docker", args: ["service", "logs", "--tail", "20", svc] },
          { allowFailure: true },
        );
        const err = await get(entry.ip, new HttpAgent()).catch((e: Error) => e.message);
        throw new Error(
          `the proxy on ${entry.name} (${entry.ip}:${PROXY_PORT}) does not answer: ${JSON.stringify(err)}\n${ps.stdout}${ps.stderr}\n${logs.stdout}${logs.stderr}`,
        );
      }
      await sleep(250);
    }
    const rolling = load(() => entry.ip, accepted);
    const upgrades: number[] = [];
    try {
      for (let v = 3; v <= 7; v++) {
        accepted.add(`v${v}`);
        const r = await applyVersion(v, `v${v}`);
        upgrades.push(r.ms);
        last = r.extras;
      }
    } finally {
      await rolling.stop();
    }
    const rc = rolling.counts;
    console.log(
      `swarm-rolling: ${rc.ok + rc.failed} requests over 5 rolling upgrades through ${entry.name}'s proxy, 4 keep-alive clients; upgrades ${list(upgrades)} s`,
    );
    console.log(
      `swarm-rolling-failed-requests: ${rc.failed} (target 0)${rc.errors.size ? ` ${JSON.stringify([...rc.errors])}` : ""}`,
    );

    // One worker lost under load (clients through a surviving node): failed requests, for how
    // long, and how long until web is back at 3 running replicas on the nodes left.
    const victim = workers.find((w) => w.name !== volumeNode.name) ?? (workers[0] as BedNode);
    const lost = load(() => entry.ip, new Set(["v7"]));
    await sleep(2000);
    const t0 = Date.now();
    await bed.kill(victim);
    let recoverMs = Number.NaN;
    for (;;) {
      const st = await readStackState(docker, last);
      const web = st.services.find((x) => x.service === "web");
      if (web && web.running === 3 && !web.nodes.includes(victim.name)) {
        recoverMs = Date.now() - t0;
        break;
      }
      if (Date.now() - t0 > 180_000) break;
      await sleep(250);
    }
    await sleep(3000);
    await lost.stop();
    const lc = lost.counts;
    console.log(`swarm-apply-plain: ${s(median(plainRuns))} (runs: ${list(plainRuns)})`);
    console.log(`swarm-apply-berth: ${s(median(berthRuns))} (runs: ${list(berthRuns)})`);
    console.log(
      `swarm-recover: ${Number.isNaN(recoverMs) ? "not back within 180 s" : s(recoverMs)} (web back at 3 replicas after worker ${victim.name} was killed)`,
    );
    console.log(
      `swarm-lost-node: ${lc.ok + lc.failed} requests through ${entry.name}'s proxy while worker ${victim.name} was killed; failures ${lc.failed ? `from ${((lc.firstFailure - t0) / 1000).toFixed(1)} s to ${((lc.lastFailure - t0) / 1000).toFixed(1)} s after the kill ${JSON.stringify([...lc.errors])}` : "none"}`,
    );
    console.log(`swarm-failed-requests: ${lc.failed} (target 0)`);
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
