// The README's main command, end to end, with the real Pulumi CLI on a file backend: the local
// stack deploys the sample app (built images, a signed release, a real node agent), upgrades it
// with no failed request, refuses and rolls back a broken change, reports no drift, and leaves
// nothing behind on destroy. Runs in its own stack, backend, port and folders.
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Agent as HttpAgent } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FolderChannelStore } from "../../contract/channel/folder-store";
import { readStatus } from "../../contract/channel/publish";
import { type RunResult, run } from "../../lib/process";
import { freePort, httpGet } from "./support/agent-harness";
import { REPO_ROOT } from "./support/pulumi-project";

// Unique to this run: Compose project, network and volume names are global to the Docker Engine,
// and other test files (and other checkouts) run beside this one.
const RUN = Math.random().toString(36).slice(2, 6);
const STACK = `e2e${RUN}`;
const ENV = `e2e${RUN}`;
const tmp = mkdtempSync(join(tmpdir(), "berth-e2e-"));
const backend = join(tmp, "state");
const localRoot = join(tmp, "local");
const appDir = join(tmp, "app");
const stackFile = join(REPO_ROOT, "stacks", `Pulumi.${STACK}.yaml`);
let port = 0;
let token = "";

function pulumi(args: string[], opts: { allowFailure?: boolean } = {}): Promise<RunResult> {
  return run("pulumi", [...args, "--stack", STACK, "--non-interactive"], {
    cwd: REPO_ROOT,
    env: { PULUMI_BACKEND_URL: `file://${backend}`, PULUMI_CONFIG_PASSPHRASE: "berth-local" },
    timeoutMs: 600_000,
    redact: token ? [token] : [],
    ...opts,
  });
}

const get = (agent?: HttpAgent) => httpGet(port, "/", "localhost", agent);
const channel = () => new FolderChannelStore(join(localRoot, "channel"));

async function containers(): Promise<string[]> {
  const r = await run("docker", [
    "ps",
    "-a",
    "--filter",
    `label=berth.environment=${ENV}`,
    "--format",
    '{{.Label "berth.service"}}/{{.State}}',
  ]);
  return r.stdout.split("\n").filter(Boolean).sort();
}

beforeAll(async () => {
  port = await freePort();
  cpSync(join(REPO_ROOT, "stacks", "local", "app"), appDir, { recursive: true });
  // The local stack's own file (its encryption salt and secrets, passphrase berth-local), pointed
  // at this test's folders, port and copy of the app.
  writeFileSync(stackFile, readFileSync(join(REPO_ROOT, "stacks", "Pulumi.local.yaml")));
  await run("mkdir", ["-p", backend]);
  await pulumi(["stack", "init"]);
  // One CLI start (~0.4 s each) for the four values.
  await pulumi([
    "config",
    "set-all",
    "--path",
    ...["--plaintext", `berth:localRoot=${localRoot}`],
    ...["--plaintext", `berth:localHttpPort=${port}`],
    ...["--plaintext", `berth:environments[0].name=${ENV}`],
    ...["--plaintext", `berth:environments[0].compose=${join(appDir, "compose.yaml")}`],
  ]);
  token = (await pulumi(["config", "get", "--path", "berth:secrets.api-token"])).stdout.trim();
  expect(token.length).toBeGreaterThan(8);
}, 120_000);

afterAll(async () => {
  if (existsSync(join(localRoot, "node", "agent.pid")))
    await pulumi(["destroy", "--yes"], { allowFailure: true });
  rmSync(stackFile, { force: true });
  rmSync(tmp, { recursive: true, force: true });
}, 300_000);

describe("the local stack, end to end with the real Pulumi CLI", () => {
  it("previews what it will create: the semantic summary, secrets by name only", async () => {
    const r = await pulumi(["preview", "--diff"]);
    expect(r.stdout).toContain("berth:index:DeploymentEnvironment");
    expect(r.stdout).toContain('API_TOKEN: "(secret api-token)"');
    expect(r.stdout).not.toContain(token);
  });

  it("deploys: builds, publishes release 1, waits for the node, and the URL answers", async () => {
    await pulumi(["up", "--yes"]);
    const out = JSON.parse((await pulumi(["stack", "output", "--json"])).stdout);
    expect(out.url).toBe(`http://localhost:${port}/`);
    expect(out.releases).toEqual({ [ENV]: 1 });
    const page = await get();
    expect(page.status).toBe(200);
    expect(page.body).toMatch(
      /^Hello from berth\nworker ticks so far: \d+\napi token: set \(\d+ characters\)$/,
    );
    expect(await readStatus(channel(), "local-1", ENV)).toMatchObject({
      state: "applied",
      appliedSequence: 1,
    });
    expect(await containers()).toEqual(["store/running", "web/running", "worker/running"]);
  });

  it("keeps no secret in plain text in the state", async () => {
    const state = (await pulumi(["stack", "export"])).stdout;
    expect(state).not.toContain(token);
    const signingKey = (await pulumi(["config", "get", "berth:signingKey"])).stdout.trim();
    expect(state).not.toContain(signingKey);
    expect(
      readFileSync(
        join(localRoot, "channel", "nodes", "local-1", "environments", ENV, "releases", "1.json"),
        "utf8",
      ),
    ).not.toContain(token);
  });

  it("upgrades a changed greeting: the preview shows the change, no request fails", async () => {
    await pulumi(["config", "set", "--path", "berth:environments[0].variables.GREETING", "Hello again"]);
    const preview = await pulumi(["preview", "--diff"]);
    expect(preview.stdout).toMatch(/GREETING\s*: "Hello from berth" => "Hello again"/);
    const agent = new HttpAgent({ keepAlive: true, maxSockets: 4 });
    let ok = 0;
    const failures: string[] = [];
    let stop = false;
    const client = async () => {
      const deadline = Date.now() + 300_000;
      while (!stop && Date.now() < deadline) {
        try {
          const r = await get(agent);
          if (r.status === 200) ok++;
          else failures.push(`HTTP ${r.status}: ${r.body.slice(0, 80)}`);
        } catch (e) {
          failures.push((e as Error).message);
        }
      }
    };
    const clients = [client(), client(), client(), client()];
    try {
      await pulumi(["up", "--yes"]);
    } finally {
      stop = true;
      await Promise.all(clients);
      agent.destroy();
    }
    console.log(`local-stack upgrade: ${ok} requests, ${failures.length} failed`);
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(50);
    expect((await get()).body).toMatch(/^Hello again\n/);
    expect(JSON.parse((await pulumi(["stack", "output", "--json"])).stdout).releases).toEqual({ [ENV]: 2 });
  });

  it("reports no drift right after an up", async () => {
    const r = await pulumi(["preview", "--expect-no-changes"], { allowFailure: true });
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
  });

  it("fails a broken change with the node's reason and keeps serving the previous release", async () => {
    const compose = join(appDir, "compose.yaml");
    const text = readFileSync(compose, "utf8");
    // The web service's health check now always fails, from its first probe on (no start
    // period, in which Docker does not count failures: it would only delay the same outcome).
    const broken = text
      .replace(
        'test: ["CMD", "python3", "/app/app.py", "check", "http://127.0.0.1:8080/health"]',
        'test: ["CMD", "false"]',
      )
      .replace(/(test: \["CMD", "false"\][\s\S]*?start_period: )10s/, (_, head) => `${head}0s`);
    expect(broken).toContain('test: ["CMD", "false"]');
    expect(broken.match(/start_period: 0s/g)).toHaveLength(1);
    writeFileSync(compose, broken);
    const r = await pulumi(["up", "--yes"], { allowFailure: true });
    expect(r.exitCode).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(
      /release 3 failed and was rolled back to release 2: .*\bweb\b[\s\S]*web-1 is unhealthy/,
    );
    expect((await get()).body).toMatch(/^Hello again\n/);
    expect(await readStatus(channel(), "local-1", ENV)).toMatchObject({
      state: "rolled-back",
      appliedSequence: 2,
      attemptedSequence: 3,
    });
    writeFileSync(compose, text);
  });

  it("destroys everything but the state backend", async () => {
    const pid = Number(readFileSync(join(localRoot, "node", "agent.pid"), "utf8"));
    await pulumi(["destroy", "--yes"]);
    expect(await containers()).toEqual([]);
    expect(existsSync(localRoot)).toBe(false);
    expect(() => process.kill(pid, 0)).toThrow();
    const vols = await run("docker", ["volume", "ls", "-q", "--filter", `label=berth.environment=${ENV}`]);
    expect(vols.stdout.trim()).toBe("");
    const nets = await run("docker", ["network", "ls", "-q", "--filter", `label=berth.environment=${ENV}`]);
    expect(nets.stdout.trim()).toBe("");
    await expect(get()).rejects.toThrow();
  });
});
