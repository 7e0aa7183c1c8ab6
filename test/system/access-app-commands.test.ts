// berth logs -f, exec and run against the real agent daemon, its HAProxy and real Docker, on a
// node where the stack turned commands on: exit codes passed through, standard input and output
// streamed, a one-off container that writes to the app's volume with the release's secrets, and
// logs that follow the service across an upgrade.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accessStatus } from "../../contract/access";
import { channelKeys } from "../../contract/channel/layout";
import { generateSigningKeyPair } from "../../contract/payload";
import { run } from "../../lib/process";
import { AgentHarness, appManifest } from "./support/agent-harness";
import { testAppImage } from "./support/test-app-image";

const ENV = `cmd-${Math.random().toString(36).slice(2, 6)}`;
const BERTH = join(__dirname, "..", "..", "dist", "berth.js");
const h = new AgentHarness();
const keyDir = mkdtempSync(join(tmpdir(), "berth-operators-"));
const alice = generateSigningKeyPair();
const keyFile = join(keyDir, "alice.key");
writeFileSync(keyFile, `${alice.privateKey}\n`, { mode: 0o600 });
const access = {
  operators: [{ name: "alice", publicKey: alice.publicKey, environments: [ENV], workspaces: [] }],
  commands: true,
};
let image = "";

const accessArgs = () => [
  "--url",
  `http://127.0.0.1:${h.proxyPort}`,
  "--operator",
  "alice",
  "--key",
  keyFile,
];
const berth = (kind: "exec" | "run", service: string, command: string[], input?: string) =>
  run(process.execPath, [BERTH, kind, ENV, service, ...accessArgs(), "--", ...command], {
    allowFailure: true,
    timeoutMs: 120_000,
    ...(input !== undefined ? { input } : {}),
  });

beforeAll(async () => {
  image = await testAppImage();
  await h.startDaemon({ healthTimeoutSeconds: 30 });
  const s = await h.deployToDaemon(ENV, 1, appManifest({ message: "v1", image }), { access });
  expect(s.state, `${s.error}\n${h.daemonLog()}`).toBe("applied");
}, 600_000);
afterAll(async () => {
  await h.cleanup([ENV]);
});

describe("commands in a deployment, where the stack turned them on", () => {
  it("exec: runs in the running container, passes the exit code and standard input through", async () => {
    const r = await berth("exec", "web", ["sh", "-c", "cat /www/index.html; echo oops >&2; exit 7"]);
    expect(r.exitCode).toBe(7);
    expect(r.stdout).toBe("v1\n");
    expect(r.stderr).toBe("oops\n");
    const cat = await berth("exec", "web", ["sh", "-c", "wc -c"], "x".repeat(100_000));
    expect(cat.exitCode).toBe(0);
    expect(cat.stdout.trim()).toBe("100000");
  });

  it("run: a one-off container of the release, with its secrets, writing to the app's volume", async () => {
    const r = await berth("run", "store", [
      "sh",
      "-c",
      'echo "migrated $STORE_VERSION" > /data/migration; echo done',
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain("done");
    const file = join(h.volumeRoot, `berth-env-${ENV}`, "volumes", "data", "data", "migration");
    expect(readFileSync(file, "utf8")).toBe("migrated \n");
    const secret = await berth("run", "web", ["sh", "-c", "printenv TOKEN | tr -d '\\n' | wc -c; exit 3"]);
    expect(secret.exitCode).toBe(3);
    expect(secret.stdout.trim()).toBe(String(h.token.length));
    // The one-off container is gone; the app still answers.
    const left = await run("docker", [
      "ps",
      "-aq",
      "--filter",
      `label=com.docker.compose.project=berth_${ENV}_run`,
    ]);
    expect(left.stdout.trim()).toBe("");
    expect((await h.get("/")).body).toBe("v1");
  });

  it("logs -f follows the service across an upgrade", async () => {
    const child = spawn(process.execPath, [BERTH, "logs", ENV, "web", "-f", ...accessArgs()]);
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    const until = async (text: string) => {
      const deadline = Date.now() + 60_000;
      while (!out.includes(text) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      return out.includes(text);
    };
    expect(await until("web.1 r1 | web starting: v1")).toBe(true);
    const s = await h.deployToDaemon(ENV, 2, appManifest({ message: "v2", image }), { access });
    expect(s.state).toBe("applied");
    expect(await until("web.1 r2 | web starting: v2"), out).toBe(true);
    child.kill("SIGINT");
    await new Promise((r) => child.once("exit", r));
  });

  it("records each session with who, what and when in the node's status", async () => {
    const text = await h.channel.get(channelKeys.accessStatus(h.nodeId));
    const sessions = accessStatus.parse(JSON.parse(text ?? "{}")).sessions;
    const runs = sessions.filter((s) => s.action === "run");
    expect(runs.map((s) => s.exitCode)).toEqual([0, 3]);
    expect(runs[0]).toMatchObject({ operator: "alice", target: { kind: "environment", id: ENV } });
    expect(runs[0]?.detail).toContain("service=store");
    // A secret the release carries never appears in the record.
    expect(text).not.toContain(h.token);
  });
});
