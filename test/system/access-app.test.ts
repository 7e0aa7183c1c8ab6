// Interactive access to a deployment through the real agent daemon (dist/berth-agent.js), its
// HAProxy and real Docker, driven by the bundled `berth` CLI: logs for a granted operator, and
// each refusal the threat model names, each with its reason, the app answering throughout.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import {
  type AccessToken,
  accessStatus,
  encodeAccessToken,
  MAX_REFUSALS_IN_STATUS,
  type Operator,
  signAccessToken,
} from "../../contract/access";
import { channelKeys } from "../../contract/channel/layout";
import { generateSigningKeyPair } from "../../contract/payload";
import { run } from "../../lib/process";
import { AgentHarness, appManifest } from "./support/agent-harness";
import { testAppImage } from "./support/test-app-image";
import { until } from "./support/workspace-daemon";

const ENV = `acc-${Math.random().toString(36).slice(2, 6)}`;
const OTHER = `${ENV}-other`;
const BERTH = join(__dirname, "..", "..", "dist", "berth.js");
const h = new AgentHarness();
const keys = mkdtempSync(join(tmpdir(), "berth-operators-"));
const alice = generateSigningKeyPair();
const bob = generateSigningKeyPair();
const mallory = generateSigningKeyPair();
for (const [name, k] of [
  ["alice", alice],
  ["bob", bob],
  ["mallory", mallory],
] as const)
  writeFileSync(join(keys, `${name}.key`), `${k.privateKey}\n`, { mode: 0o600 });
const operators: Operator[] = [
  { name: "alice", publicKey: alice.publicKey, environments: [ENV], workspaces: [] },
  { name: "bob", publicKey: bob.publicKey, environments: [OTHER], workspaces: [] },
];
let image = "";
const url = () => `http://127.0.0.1:${h.proxyPort}`;

/** The bundled CLI as an operator runs it. */
function berth(args: string[], who = "alice", input?: string) {
  return run(
    process.execPath,
    [BERTH, ...args, "--url", url(), "--operator", who, "--key", join(keys, `${who}.key`)].flatMap((a) =>
      a === "--" ? [] : [a],
    ),
    { allowFailure: true, timeoutMs: 60_000, ...(input !== undefined ? { input } : {}) },
  );
}

/** `berth exec|run ENV SERVICE [opts] -- CMD`: access options before the `--`. */
function berthCommand(
  kind: "exec" | "run",
  service: string,
  command: string[],
  who = "alice",
  input?: string,
) {
  return run(
    process.execPath,
    [
      BERTH,
      kind,
      ENV,
      service,
      "--url",
      url(),
      "--operator",
      who,
      "--key",
      join(keys, `${who}.key`),
      "--",
      ...command,
    ],
    { allowFailure: true, timeoutMs: 60_000, ...(input !== undefined ? { input } : {}) },
  );
}

/** A raw WebSocket request with a given token: what an attacker holding one could send. */
function rawRequest(
  path: string,
  token: AccessToken | string,
): Promise<{ status: number; code?: string; reason?: string }> {
  const authorization = typeof token === "string" ? token : encodeAccessToken(token);
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${h.proxyPort}${path}`, {
      headers: { authorization, host: "anything.test" },
    });
    ws.once("open", () => {
      ws.close();
      resolve({ status: 101 });
    });
    ws.once("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (c: Buffer) => {
        body += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, ...JSON.parse(body || "{}") }));
    });
    ws.once("error", reject);
  });
}

const token = (o: Partial<Parameters<typeof signAccessToken>[0]> = {}) =>
  signAccessToken({
    operator: "alice",
    privateKey: alice.privateKey,
    node: h.nodeId,
    target: { kind: "environment", id: ENV },
    action: "logs",
    request: {},
    ...o,
  });

async function sessions() {
  const text = await h.channel.get(channelKeys.accessStatus(h.nodeId));
  return text ? accessStatus.parse(JSON.parse(text)).sessions : [];
}

beforeAll(async () => {
  image = await testAppImage();
  await h.startDaemon({ healthTimeoutSeconds: 30 });
  const s = await h.deployToDaemon(ENV, 1, appManifest({ message: "v1", image }), {
    access: { operators, commands: false },
  });
  expect(s.state, `${s.error}\n${h.daemonLog()}`).toBe("applied");
}, 600_000);
afterAll(async () => {
  await h.cleanup([ENV]);
});

describe("access to a deployment through the agent", () => {
  it("serves logs to a granted operator through the node's proxy, prefixed by service, replica and release", async () => {
    const r = await berth(["logs", ENV, "web"]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain("web.1 r1 | web starting: v1");
    const all = await berth(["logs", ENV]);
    expect(all.stdout).toContain("store.1 | store starting");
    // The agent records a session's end before it sends the exit, but publishes its status to the
    // channel afterwards, one write at a time: the CLI can return before the end reaches the channel.
    const last = await until(
      h,
      "the last logs session to be recorded as ended in the node's status",
      async () => {
        const s = (await sessions()).at(-1);
        return s?.endedAt !== undefined ? s : undefined;
      },
      60_000,
    );
    expect(last).toMatchObject({
      operator: "alice",
      action: "logs",
      target: { kind: "environment", id: ENV },
      exitCode: 0,
    });
    expect(last.startedAt).toBeTruthy();
    expect(Date.parse(last.endedAt ?? "")).toBeGreaterThanOrEqual(Date.parse(last.startedAt));
  });

  it("refuses an expired token (EXPIRED)", async () => {
    const t = token({ now: new Date(Date.now() - 10 * 60_000) });
    const r = await rawRequest(`/.berth/access/v1/environments/${ENV}/logs`, t);
    expect(r).toMatchObject({ status: 401, code: "EXPIRED" });
    expect((await h.get("/")).body).toBe("v1");
  });

  it("refuses a replayed token (REPLAYED)", async () => {
    const t = token();
    const path = `/.berth/access/v1/environments/${ENV}/logs`;
    expect((await rawRequest(path, t)).status).toBe(101);
    expect(await rawRequest(path, t)).toMatchObject({ status: 401, code: "REPLAYED" });
  });

  it("refuses a token for another target (WRONG_TARGET)", async () => {
    const t = token({ target: { kind: "environment", id: OTHER } });
    expect(await rawRequest(`/.berth/access/v1/environments/${ENV}/logs`, t)).toMatchObject({
      status: 403,
      code: "WRONG_TARGET",
    });
  });

  it("refuses an operator without the grant (NO_GRANT), and one the stack does not declare", async () => {
    const r = await berth(["logs", ENV], "bob");
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/refused \(NO_GRANT\): operator bob has no grant on environment/);
    const m = await berth(["logs", ENV], "mallory");
    expect(m.stderr).toContain("UNKNOWN_OPERATOR");
  });

  it("refuses a command on a deployment node where commands are off (COMMANDS_OFF)", async () => {
    const r = await berthCommand("exec", "web", ["sh", "-c", "echo pwned"]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/refused \(COMMANDS_OFF\): commands \(run, exec\) are off on node/);
    expect(r.stdout).not.toContain("pwned");
    const ex = await berthCommand("run", "web", ["true"]);
    expect(ex.stderr).toContain("COMMANDS_OFF");
  });

  it("records every refusal with its reason in the node's status", async () => {
    const want = ["EXPIRED", "REPLAYED", "WRONG_TARGET", "NO_GRANT", "UNKNOWN_OPERATOR", "COMMANDS_OFF"];
    // Refusals reach the channel at most once a second (session-log.ts): wait for the last ones.
    const codes = await until(
      h,
      "every refusal to be recorded in the node's status",
      async () => {
        const c = (await sessions()).filter((s) => s.refused).map((s) => s.refused?.code);
        return want.every((w) => c.includes(w)) ? c : undefined;
      },
      30_000,
    );
    for (const c of want) expect(codes).toContain(c);
    expect((await h.get("/")).body).toBe("v1");
  });

  it("a flood of forged tokens from anyone who reaches the node pushes no operator's session out of its status", async () => {
    const before = (await sessions()).filter((s) => !s.refused);
    expect(before.length).toBeGreaterThan(0);
    // 300 requests (a bounded loop, to the node's proxy on loopback) with tokens that do not parse.
    for (let i = 0; i < 300; i++) {
      const r = await rawRequest(`/.berth/access/v1/environments/${ENV}/logs`, `Bearer forged.${i}`);
      expect(r).toMatchObject({ status: 400, code: "MALFORMED" });
    }
    const after = await until(
      h,
      "the flood's refusals to be recorded",
      async () => {
        const all = await sessions();
        return all.filter((s) => s.refused?.code === "MALFORMED").length >= MAX_REFUSALS_IN_STATUS
          ? all
          : undefined;
      },
      30_000,
    );
    // Every session recorded before the flood is still there, and the refusals kept are bounded.
    for (const s of before) expect(after.map((x) => x.id)).toContain(s.id);
    expect(after.filter((s) => s.refused).length).toBe(MAX_REFUSALS_IN_STATUS);
    expect((await h.get("/")).body).toBe("v1");
  });
});
