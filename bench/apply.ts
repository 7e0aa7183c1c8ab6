// bench:apply — the agent's apply overhead: time from a release appearing in the channel to the
// node reporting it applied (healthy), divided by a plain `docker compose up -d --wait` of the
// same rendered file with the images already present, measured in the same run (runs
// interleaved, medians): from nothing (Compose creates the network and the volume, as the
// agent's first release does) for a first release, on the existing ones for an upgrade. The agent runs its daemon loop on a watched folder channel, as the
// local target does. Then the failed requests during 5 upgrades under keep-alive load through
// the node proxy.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Agent as HttpAgent } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { waitForOutcome } from "../contract/channel/publish";
import type { Manifest } from "../contract/manifest/schema";
import { renderNodeCompose } from "../contract/render/node-compose";
import { run } from "../lib/process";
import { AgentHarness, appManifest, httpGet } from "../test/system/support/agent-harness";
import { testAppImage } from "../test/system/support/test-app-image";

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const list = (xs: number[]) => xs.map((x) => (x / 1000).toFixed(2)).join(" ");
// Environment ids unique to this run (Compose names are global to the Docker Engine).
const RUN = Math.random().toString(36).slice(2, 6);

async function main() {
  const image = await testAppImage();
  const h = new AgentHarness();
  // Each apply's steps as the agent enters them (the split printed at the end).
  const steps: { name: string; at: number }[] = [];
  await h.start({
    healthTimeoutSeconds: 60,
    watch: true,
    onStep: (name) => void steps.push({ name, at: Date.now() }),
  });
  const ac = new AbortController();
  const daemon = h.agent.run(ac.signal);
  const envs: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), "berth-bench-apply-"));

  /** Step name → its durations (ms), per kind of apply; "pickup" is channel → first step. */
  const splits = { first: new Map<string, number[]>(), upgrade: new Map<string, number[]>() };
  const record = (into: Map<string, number[]>, t: number, end: number) => {
    // Up to the report (the previous release's stop comes after it).
    const marks = [{ name: "pickup", at: t }, ...steps.filter((x) => x.at <= end)];
    marks.forEach((m, i) => {
      const name = m.name.startsWith("switch:") ? "switch" : m.name;
      const next = marks[i + 1]?.at ?? end;
      into.set(name, [...(into.get(name) ?? []), next - m.at]);
    });
  };
  const printSplit = (what: string, from: Map<string, number[]>) =>
    console.log(
      `${what} split (median ms): ${[...from]
        .filter(([, xs]) => median(xs) >= 5)
        .map(([n, xs]) => `${n} ${median(xs)}`)
        .join(", ")}`,
    );

  /** Publishes a release and times it from the moment it is in the channel to "applied". */
  const timedApply = async (
    env: string,
    seq: number,
    m: Manifest,
    split?: Map<string, number[]>,
  ): Promise<number> => {
    // An upgrade starts from a settled node: the node reports a release applied once it serves and
    // stops the previous one after that report; a later `pulumi up` finds it stopped (as the
    // baseline's own `compose down` is not timed either).
    for (let end = Date.now() + 60_000; Date.now() < end; ) {
      const releases = new Set((await h.containers(env)).map((c) => c.release).filter(Boolean));
      if (releases.size <= 1) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    steps.length = 0;
    await h.publish(env, seq, m);
    const t = Date.now();
    const status = await waitForOutcome(h.channel, {
      nodeId: h.nodeId,
      environmentId: env,
      sequence: seq,
      timeoutMs: 120_000,
      pollMs: 20,
    });
    if (status.state !== "applied")
      throw new Error(`${env} release ${seq}: ${status.state}: ${status.error}`);
    const end = Date.now();
    if (split) record(split, t, end);
    return end - t;
  };

  try {
    // Baselines: the same rendered file (web + store, the store's named volume, the
    // environment's network) brought up by hand, `docker compose up -d --wait` with the images
    // present, in two forms:
    // - for the first release, from nothing, as the agent's first release of a fresh environment
    //   is: Compose itself creates the network and the volume in the timed `up` (the file
    //   declares them, with names of the run's own, instead of naming external ones), so both
    //   sides make the same objects; `down -v` (untimed) removes them;
    // - for upgrades, with the network and the volume made beforehand (untimed), as an upgrade
    //   finds them.
    const baseEnv = `bench-base-${RUN}`;
    envs.push(baseEnv);
    const rendered = renderNodeCompose(appManifest({ message: "v1", image }), {
      environmentId: baseEnv,
      sequence: 1,
      images: { web: image, store: image },
      volumeRoot: join(dir, "volumes"),
    });
    const file = join(dir, "compose.yaml");
    writeFileSync(file, rendered.text, { mode: 0o600 });
    const secretEnv = Object.fromEntries(
      Object.values(rendered.extras.secrets).map((v) => [v, "token-value"]),
    );
    for (const n of rendered.extras.networks)
      await run("docker", ["network", "create", "--label", `berth.environment=${baseEnv}`, n.name]);
    for (const v of rendered.extras.volumes) {
      await run("mkdir", ["-p", v.device]);
      await run("docker", [
        "volume",
        "create",
        "--label",
        `berth.environment=${baseEnv}`,
        "--opt",
        "type=none",
        "--opt",
        "o=bind",
        "--opt",
        `device=${v.device}`,
        v.name,
      ]);
    }
    const devices = new Map(rendered.extras.volumes.map((v) => [v.name, v.device]));
    /** The file with its network and volume declared, named `<name>-<i>`. */
    const fromNothingFile = (i: number): string => {
      type Named = { name: string } & Record<string, unknown>;
      const doc = parseYaml(rendered.text) as {
        networks?: Record<string, Named>;
        volumes?: Record<string, Named>;
      };
      const labels = { "berth.environment": baseEnv };
      for (const [k, n] of Object.entries(doc.networks ?? {}))
        doc.networks![k] = { name: `${n.name}-${i}`, driver: "bridge", labels };
      for (const [k, v] of Object.entries(doc.volumes ?? {}))
        doc.volumes![k] = {
          name: `${v.name}-${i}`,
          driver: "local",
          driver_opts: { type: "none", o: "bind", device: devices.get(v.name) },
          labels,
        };
      const f = join(dir, `compose-${i}.yaml`);
      writeFileSync(f, JSON.stringify(doc), { mode: 0o600 });
      return f;
    };
    const baseline = async (i: number, fromNothing = false): Promise<number> => {
      const f = fromNothing ? fromNothingFile(i) : file;
      const project = `berth_${baseEnv}_${fromNothing ? "new" : "up"}${i}`;
      const t = Date.now();
      await run("docker", ["compose", "-p", project, "-f", f, "up", "-d", "--wait"], {
        cwd: "/",
        env: secretEnv,
        timeoutMs: 300_000,
      });
      const took = Date.now() - t;
      await run(
        "docker",
        ["compose", "-p", project, "-f", f, "down", ...(fromNothing ? ["-v"] : []), "-t", "1"],
        {
          cwd: "/",
          env: secretEnv,
        },
      );
      return took;
    };

    // Warm-up (the proxy's first start, Docker's caches), not counted.
    const warmEnv = `bench-warm-${RUN}`;
    envs.push(warmEnv);
    await timedApply(warmEnv, 1, appManifest({ message: "v1", image, host: `${warmEnv}.test` }));
    await baseline(99);
    await baseline(99, true);

    // Interleaved: baseline i, then the agent's first release of a fresh environment i (the same
    // two services from nothing), so drift of the machine hits both alike.
    const base: number[] = [];
    const baseNew: number[] = [];
    const firsts: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      base.push(await baseline(i));
      baseNew.push(await baseline(i, true));
      const env = `bench-first-${RUN}-${i}`;
      envs.push(env);
      firsts.push(
        await timedApply(env, 1, appManifest({ message: "v1", image, host: `${env}.test` }), splits.first),
      );
    }

    // Upgrades of one environment: start-first web beside the old, switch, drain, stop the old.
    const upEnv = `bench-apply-${RUN}`;
    envs.push(upEnv);
    const upgrades: number[] = [];
    await timedApply(upEnv, 1, appManifest({ message: "v1", image, host: "bench.test" }));
    let seq = 1;
    for (let i = 0; i < RUNS; i++) {
      seq++;
      upgrades.push(
        await timedApply(
          upEnv,
          seq,
          appManifest({ message: `v${seq}`, image, host: "bench.test" }),
          splits.upgrade,
        ),
      );
    }

    // Failed requests during 5 upgrades under keep-alive load.
    const published = new Set([`v${seq}`]);
    const agent = new HttpAgent({ keepAlive: true, maxSockets: 4 });
    let ok = 0;
    let failed = 0;
    let stop = false;
    const client = async () => {
      const deadline = Date.now() + 300_000;
      for (let n = 0; n < 500_000 && !stop && Date.now() < deadline; n++) {
        try {
          const r = await httpGet(h.proxyPort, "/", "bench.test", agent);
          if (r.status === 200 && published.has(r.body)) ok++;
          else failed++;
        } catch {
          failed++;
        }
      }
    };
    const clients = [client(), client(), client(), client()];
    const loaded: number[] = [];
    try {
      for (let i = 0; i < 5; i++) {
        seq++;
        published.add(`v${seq}`);
        loaded.push(
          await timedApply(upEnv, seq, appManifest({ message: `v${seq}`, image, host: "bench.test" })),
        );
      }
    } finally {
      stop = true;
      await Promise.all(clients);
      agent.destroy();
    }

    const b = median(base);
    const bNew = median(baseNew);
    const first = median(firsts);
    const up = median(upgrades);
    console.log(
      `baseline docker compose up -d --wait (images present), network and volume existing: median ${s(b)} [${list(base)}]`,
    );
    console.log(
      `baseline docker compose up -d --wait (images present), from nothing (Compose creates the network and the volume): median ${s(bNew)} [${list(baseNew)}]`,
    );
    console.log(
      `agent, first release (in the channel → applied): median ${s(first)} [${list(firsts)}] → ${(first / bNew).toFixed(2)}x of the from-nothing baseline (${(first / b).toFixed(2)}x of the other)`,
    );
    console.log(
      `agent, upgrade (start-first web, switch, drain, stop the old): median ${s(up)} [${list(upgrades)}] → ${(up / b).toFixed(2)}x`,
    );
    printSplit("first release", splits.first);
    printSplit("upgrade", splits.upgrade);
    console.log(`agent, upgrade under load: median ${s(median(loaded))} [${list(loaded)}]`);
    console.log(`apply-requests: ${ok + failed} over 5 upgrades with 4 keep-alive clients`);
    console.log(`apply-failed-requests: ${failed} (target 0)`);
    // Issue 22's budgets: a first release at most 1.1x the plain `docker compose up`, an upgrade 1.0x.
    console.log(`apply-upgrade: ${(up / b).toFixed(2)}x (target 1.0x)`);
    console.log(`apply: ${(first / bNew).toFixed(2)}x (target 1.1x)`);
  } finally {
    ac.abort();
    await daemon.catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    await h.cleanup(envs);
  }
}

main().catch((e) => {
  console.error(`bench:apply: ${(e as Error).message}`);
  process.exit(1);
});
