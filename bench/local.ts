// bench:local — the README's main command on this machine, warm (toolchain, base image and
// registry present): time from `git clone` to the app's URL answering, and how a one-line change
// of the web service's code splits (build + push, publish, node apply). Baseline, measured in
// the same run: the same image built and started by hand (`docker build` + `docker run` until
// it answers), the floor any deploy tool stands on.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "../lib/process";
import { freePort, httpGet } from "../test/system/support/agent-harness";

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
        join(REPO, "stacks/local/app/src"),
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

    // A one-line change of the web service's code.
    const app = join(clone, "stacks/local/app/src/app.py");
    writeFileSync(app, readFileSync(app, "utf8").replace("worker ticks so far", "worker ticks counted"));
    const c0 = Date.now();
    await run("bash", ["-c", "source scripts/env.sh && pulumi up --stack local --yes --non-interactive"], {
      cwd: clone,
      env,
      timeoutMs: 900_000,
    });
    await waitForUrl(port, /worker ticks counted/, 60_000);
    const change = Date.now() - c0;
    // The providers record how long their part took (outputs buildSeconds, publishSeconds, applySeconds).
    const exported = await run("bash", ["-c", "source scripts/env.sh && pulumi stack export --stack local"], {
      cwd: clone,
      env,
    });
    const resources = JSON.parse(exported.stdout).deployment.resources as {
      urn: string;
      outputs?: Record<string, unknown>;
    }[];
    const outputOf = (suffix: string, key: string) =>
      Number(resources.find((r) => r.urn.endsWith(suffix))?.outputs?.[key] ?? Number.NaN) * 1000;
    const build = outputOf("-image", "buildSeconds");
    const publish = outputOf("-release", "publishSeconds");
    const apply = outputOf("-release", "applySeconds");
    console.log(
      `one-line change of the web service: pulumi up ${s(change)} = build + push ${s(build)}, publish ${s(publish)}, node apply ${s(apply)}, engine and program ${s(change - build - publish - apply)}`,
    );
    console.log(`warm deploy costs ${(warm / baseline).toFixed(1)}x building and starting the image by hand`);
    console.log(
      `local: ${(warm / 1000).toFixed(1)} s from git clone to the URL answering, warm (target 120 s)`,
    );
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
