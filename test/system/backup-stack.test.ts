// Backups and rollback through the program, with the real Pulumi CLI on a file backend: the
// local stack deploys the sample app with backups to versitygw declared in the stack config
// (password and bucket keys as secret config); the node backs the store's volume up; no backup
// secret is in plain text in `pulumi stack export`, the channel or the node's log; then
// `berth rollback ENV --to 1` publishes release 1's content as release 3 through `pulumi up`.
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nodeIo } from "../../cli/io";
import { main as berth } from "../../cli/main";
import { FolderChannelStore } from "../../contract/channel/folder-store";
import { readStatus } from "../../contract/channel/publish";
import { type RunResult, run } from "../../lib/process";
import { freePort, httpGet } from "./support/agent-harness";
import { REPO_ROOT } from "./support/pulumi-project";
import { Versitygw } from "./support/versitygw";

const RUN = Math.random().toString(36).slice(2, 6);
const STACK = `bk${RUN}`;
const ENV = `bk${RUN}`;
const tmp = mkdtempSync(join(tmpdir(), "berth-bkstack-"));
const backend = join(tmp, "state");
const localRoot = join(tmp, "local");
const appDir = join(tmp, "app");
const stackFile = join(REPO_ROOT, "stacks", `Pulumi.${STACK}.yaml`);
const gw = new Versitygw();
const password = `pw-${Math.random().toString(36).slice(2)}-${Math.random().toString(36).slice(2)}`;
const env = { PULUMI_BACKEND_URL: `file://${backend}`, PULUMI_CONFIG_PASSPHRASE: "berth-local" };
let port = 0;

function pulumi(args: string[], opts: { allowFailure?: boolean } = {}): Promise<RunResult> {
  return run("pulumi", [...args, "--stack", STACK, "--non-interactive"], {
    cwd: REPO_ROOT,
    env,
    timeoutMs: 600_000,
    redact: [password, gw.secretKey],
    ...opts,
  });
}

function allText(dir: string): string {
  let out = "";
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const p = join(e.parentPath, e.name);
    if (e.isFile() && statSync(p).size < 5_000_000) out += readFileSync(p, "latin1");
  }
  return out;
}

beforeAll(async () => {
  port = await freePort();
  await gw.start();
  gw.bucket("berth-stack-backups");
  cpSync(join(REPO_ROOT, "stacks", "local", "app"), appDir, { recursive: true });
  writeFileSync(stackFile, readFileSync(join(REPO_ROOT, "stacks", "Pulumi.local.yaml")));
  await run("mkdir", ["-p", backend]);
  await pulumi(["stack", "init"]);
  // One `pulumi config set-all` (each CLI start costs ~0.4 s): plain values, then the secrets.
  const b = "berth:environments[0].backup";
  const plain: Record<string, string> = {
    "berth:localRoot": localRoot,
    "berth:localHttpPort": String(port),
    "berth:environments[0].name": ENV,
    "berth:environments[0].compose": join(appDir, "compose.yaml"),
    [`${b}.target.endpoint`]: gw.endpoint,
    [`${b}.target.bucket`]: "berth-stack-backups",
    [`${b}.target.region`]: "us-east-1",
    [`${b}.retention.last`]: "3",
  };
  const secret: Record<string, string> = {
    "berth:secrets.backup-password": password,
    "berth:secrets.backup-access-key-id": gw.accessKey,
    "berth:secrets.backup-secret-access-key": gw.secretKey,
  };
  await pulumi([
    "config",
    "set-all",
    "--path",
    ...Object.entries(plain).flatMap(([k, v]) => ["--plaintext", `${k}=${v}`]),
    ...Object.entries(secret).flatMap(([k, v]) => ["--secret", `${k}=${v}`]),
  ]);
}, 120_000);

afterAll(async () => {
  await pulumi(["destroy", "--yes"], { allowFailure: true });
  rmSync(stackFile, { force: true });
  await gw.cleanup();
  rmSync(tmp, { recursive: true, force: true });
}, 300_000);

describe("backups and rollback through the program", () => {
  it("deploys with backups; the node backs up; no backup secret in the state, channel or log", async () => {
    await pulumi(["up", "--yes"]);
    const r = await run(
      "node",
      [
        join(REPO_ROOT, "bin", "berth-agent.js"),
        "backup",
        ENV,
        "--config",
        join(localRoot, "node", "agent.json"),
      ],
      { allowFailure: true },
    );
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`${ENV}/data: snapshot [0-9a-f]{8}`));
    const s = await readStatus(new FolderChannelStore(join(localRoot, "channel")), "local-1", ENV);
    expect(s?.backup?.state).toBe("ok");
    const state = (await pulumi(["stack", "export"])).stdout;
    for (const text of [
      state,
      allText(join(localRoot, "channel")),
      readFileSync(join(localRoot, "node", "agent.log"), "utf8"),
    ]) {
      expect(text).not.toContain(password);
      expect(text).not.toContain(gw.secretKey);
    }
    expect(state).toContain("berth-stack-backups"); // the declaration itself is there, in the clear
  }, 600_000);

  it("berth rollback ENV --to 1 publishes release 1's content as release 3 through pulumi up", async () => {
    await pulumi(["config", "set", "--path", "berth:environments[0].variables.GREETING", "Hello again"]);
    await pulumi(["up", "--yes"]);
    expect((await httpGet(port, "/", "localhost")).body).toMatch(/^Hello again/);
    let out = "";
    let err = "";
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      const code = await berth(["rollback", ENV, "--to", "1", "--stack", STACK], {
        ...nodeIo(),
        out: (t) => (out += t),
        err: (t) => (err += t),
      });
      expect(code, out + err).toBe(0);
    } finally {
      for (const k of Object.keys(env)) if (saved[k] === undefined) delete process.env[k];
    }
    expect((await httpGet(port, "/", "localhost")).body).toMatch(/^Hello from berth/);
    const st = await readStatus(new FolderChannelStore(join(localRoot, "channel")), "local-1", ENV);
    expect(st).toMatchObject({ state: "applied", appliedSequence: 3 });
    let hist = "";
    await berth(["releases", ENV, "--channel", join(localRoot, "channel")], {
      ...nodeIo(),
      out: (t) => (hist += t),
      err: () => {},
    });
    expect(hist).toMatch(/\s3\s+\S+\s+running\s/);
  }, 600_000);
});
