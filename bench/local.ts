// bench:local — the README's main command on this machine, warm (toolchain, base image and
// registry present): time from `git clone` to the app's URL answering, and how a one-line change
// of the web service's code splits (build + push, publish, node apply). Baseline, measured in
// the same run: the same image built and started by hand (`docker build` + `docker run` until
// it answers), the floor any deploy tool stands on.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "../lib/process";
import { freePort, httpGet } from "../test/system/support/agent-harness";
import { procStat } from "./proc-stat";

const REPO = join(__dirname, "..");
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

async function waitForUrl(port: number, expect: RegExp, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const r = await httpGet(port, "/", "localhost");
      if (r.status === 200 && expect.test(r.body)) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the URL on port ${port} did not answer within ${timeoutMs} ms`);
}

/** The idle agent over `seconds`: resident memory (VmRSS, sampled each second: the highest) and CPU. */
async function idleAgent(
  pid: number,
  seconds: number,
): Promise<{
  rssMb: number;
  cpuPercent: number;
  anonMb: number;
  fileMb: number;
  pssMb: number;
  pssAnonMb: number;
  pssFileMb: number;
}> {
  const cpuSeconds = () => procStat(pid)?.own ?? 0;
  const kb = (file: string, name: string) =>
    Number(
      new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/${file}`, "utf8"))?.[1],
    ) / 1024;
  const field = (name: string) => kb("status", name);
  const rss = () => field("VmRSS");
  const t0 = cpuSeconds();
  let highest = rss();
  for (let i = 0; i < seconds; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    highest = Math.max(highest, rss());
  }
  // Anonymous memory (heap, malloc) and file pages (node's own binary and
  // snapshot, shared with every node process) at the end, to say where the resident memory is;
  // and the proportional set size (smaps_rollup): each shared page divided among the processes
  // that map it, so node's binary counts once across the node processes of the machine.
  return {
    rssMb: highest,
    cpuPercent: ((cpuSeconds() - t0) / seconds) * 100,
    anonMb: field("RssAnon"),
    fileMb: field("RssFile"),
    pssMb: kb("smaps_rollup", "Pss"),
    pssAnonMb: kb("smaps_rollup", "Pss_Anon"),
    pssFileMb: kb("smaps_rollup", "Pss_File"),
  };
}

/**
 * The agent's child processes (by their parent pid in /proc) and their resident memory: an idle
 * agent applies nothing, so none of its apply's children (node-agent/converge/apply-child.ts)
 * should be left, only HAProxy on the local node.
 */
function childrenOf(pid: number): string[] {
  const out: string[] = [];
  for (const p of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = procStat(Number(p));
      if (stat?.ppid !== pid) continue;
      const comm = stat.comm;
      const rss = Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${p}/status`, "utf8"))?.[1]) / 1024;
      out.push(`${comm} (pid ${p}) ${rss.toFixed(1)} MB`);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

async function main() {
  const tmp = mkdtempSync(join(tmpdir(), "berth-bench-local-"));
  const clone = join(tmp, "berth");
  const port = await freePort();
  const env = {
    PULUMI_BACKEND_URL: `file://${clone}/.pulumi-state`,
    PULUMI_CONFIG_PASSPHRASE: "berth-local",
  };
  try {
    // Baseline: build the sample app's image and start it by hand.
    const b0 = Date.now();
    await run(
      "docker",
      [
        "build",
        "--quiet",
        "--build-arg",
        `BASE_IMAGE=${process.env.BERTH_BASE_IMAGE}`,
        "-t",
        "berth-bench/baseline",
        join(REPO, "stacks/local/app/web"),
      ],
      { timeoutMs: 600_000 },
    );
    const basePort = await freePort();
    await run("docker", [
      "run",
      "-d",
      "--rm",
      "--name",
      "berth-bench-baseline",
      "-p",
      `127.0.0.1:${basePort}:8080`,
      "berth-bench/baseline",
      "web",
    ]);
    await waitForUrl(basePort, /./, 60_000);
    const baseline = Date.now() - b0;
    await run("docker", ["rm", "-f", "berth-bench-baseline"], { allowFailure: true });
    console.log(`baseline (docker build + docker run of the web image, until it answers): ${s(baseline)}`);

    // Warm: clone → npm run up → URL answers.
    const t0 = Date.now();
    await run("git", ["clone", "--quiet", REPO, clone]);
    await run("bash", ["-c", `cd ${clone} && bash scripts/setup.sh`], { timeoutMs: 900_000 });
    const setupDone = Date.now();
    await run(
      "bash",
      [
        "-c",
        `source scripts/env.sh && mkdir -p .pulumi-state && pulumi stack select --create local --non-interactive && pulumi config set --stack local berth:localHttpPort ${port}`,
      ],
      {
        cwd: clone,
        env,
      },
    );
    await run("bash", ["scripts/up-local.sh"], { cwd: clone, env, timeoutMs: 900_000 });
    await waitForUrl(port, /worker ticks/, 60_000);
    const warm = Date.now() - t0;
    console.log(
      `warm: git clone → URL answering: ${s(warm)} (setup ${s(setupDone - t0)}, first pulumi up ${s(Date.now() - setupDone)})`,
    );

    // A one-line change of the web service's code, twice: `pulumi up` with its preview, then with
    // --skip-preview (what `npm run up` runs: it answers yes anyway, so the preview only waits).
    const app = join(clone, "stacks/local/app/web/app.py");
    const exportStack = async () => {
      const exported = await run(
        "bash",
        ["-c", "source scripts/env.sh && pulumi stack export --stack local"],
        {
          cwd: clone,
          env,
        },
      );
      return JSON.parse(exported.stdout).deployment.resources as {
        urn: string;
        outputs?: Record<string, unknown>;
      }[];
    };
    const oneLineChange = async (from: string, to: string, flags: string[]) => {
      writeFileSync(app, readFileSync(app, "utf8").replace(from, to));
      const c0 = Date.now();
      await run(
        "bash",
        ["-c", `source scripts/env.sh && pulumi up --stack local --yes --non-interactive ${flags.join(" ")}`],
        { cwd: clone, env, timeoutMs: 900_000 },
      );
      await waitForUrl(port, new RegExp(to), 60_000);
      const total = Date.now() - c0;
      // The providers record how long their part took (buildSeconds, pushSeconds, publishSeconds,
      // applySeconds): the web service's image, its Release.
      const resources = await exportStack();
      const outputOf = (suffix: string, key: string) =>
        Number(resources.find((r) => r.urn.endsWith(suffix))?.outputs?.[key] ?? Number.NaN) * 1000;
      const buildAndPush = outputOf("web-image", "buildSeconds");
      const push = outputOf("web-image", "pushSeconds");
      const publish = outputOf("-release", "publishSeconds");
      const apply = outputOf("-release", "applySeconds");
      const engine = total - buildAndPush - publish - apply;
      console.log(
        `one-line change of the web service, pulumi up ${flags.join(" ") || "(with its preview)"}: ${s(total)} = engine and program ${s(engine)}, build ${s(buildAndPush - push)}, push ${s(push)}, publish ${s(publish)}, node apply ${s(apply)}`,
      );
      return total;
    };
    // The program's own start, outside the engine: its modules through the program's loader, as
    // the engine runs them (scripts/program-loader.js: esbuild's output of each file, kept between
    // runs; every target's module, as stacks/index.ts imports them) and the bundle each dynamic
    // provider process loads.
    const startup = await run(
      "bash",
      [
        "-c",
        `source scripts/env.sh && node -r ./scripts/program-loader.js -e 'const t = Date.now(); for (const m of ["local", "hetzner", "scaleway"]) require("./stacks/targets/" + m); const p = Date.now(); require("./dist/provider-runtime.js"); console.log((p - t) + " " + (Date.now() - p))'`,
      ],
      { cwd: clone, env },
    );
    const [modulesMs, bundleMs] = startup.stdout.trim().split(" ").map(Number) as [number, number];
    console.log(
      `program start outside the engine: its modules ${s(modulesMs)}, the providers' bundle ${s(bundleMs)}`,
    );
    await oneLineChange("worker ticks so far", "worker ticks counted", []);
    const change = await oneLineChange("worker ticks counted", "worker ticks tallied", ["--skip-preview"]);
    console.log(`warm deploy costs ${(warm / baseline).toFixed(1)}x building and starting the image by hand`);

    // The idle agent: resident memory and CPU over a minute, after the releases above.
    const pid = Number(readFileSync(join(clone, ".berth-local/local/node/agent.pid"), "utf8").trim());
    const idle = await idleAgent(pid, 60);
    console.log(
      `agent idle over 60 s: CPU ${idle.cpuPercent.toFixed(2)} %, resident at most ${idle.rssMb.toFixed(1)} MB (at the end: anonymous ${idle.anonMb.toFixed(1)} MB, file pages ${idle.fileMb.toFixed(1)} MB; proportional ${idle.pssMb.toFixed(1)} MB = anonymous ${idle.pssAnonMb.toFixed(1)} + file ${idle.pssFileMb.toFixed(1)})`,
    );
    console.log(`agent's child processes at the end: ${childrenOf(pid).join(", ") || "none"}`);
    // The target is resident memory (VmRSS), as the issue measures it; node's own binary pages are
    // in it. The anonymous part is what the agent's code decides.
    console.log(`agent-idle-anon: ${idle.anonMb.toFixed(1)} MB (resident, not shared)`);
    console.log(`agent-idle-rss: ${idle.rssMb.toFixed(1)} MB (target 60 MB)`);
    console.log(`local: ${(change / 1000).toFixed(1)} s one-line change (target 6 s)`);
  } finally {
    await run("bash", ["scripts/destroy-local.sh"], {
      cwd: clone,
      env,
      allowFailure: true,
      timeoutMs: 600_000,
    }).catch((e) => console.error(`cleanup: ${(e as Error).message}`));
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`bench:local: ${(e as Error).message}`);
  process.exit(1);
});
