// The access server on its Unix socket with the CLI's client: framing, stdin and exit codes,
// refusals before any handler runs, the session record. Handlers here are small fakes; the real
// ones run against Docker in test/system/access-*.test.ts.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccessRefused, openSession, pumpStdin } from "../../cli/access/client";
import type { TargetPolicy } from "../../contract/access";
import { generateSigningKeyPair } from "../../contract/payload";
import { createLogger } from "../../lib/log";
import { NonceCache } from "../../node-agent/access/nonce-cache";
import { AccessServer } from "../../node-agent/access/server";
import { SessionLog } from "../../node-agent/access/session-log";

const root = mkdtempSync(join(tmpdir(), "berth-access-"));
const socketPath = join(root, "access", "agent.sock");
const alice = generateSigningKeyPair();
const log = createLogger("access-test");
log.level = "silent";
const policy: TargetPolicy = {
  commands: true,
  operators: [{ name: "alice", publicKey: alice.publicKey, environments: ["app"], workspaces: ["dev"] }],
};
const sessions = new SessionLog({ nodeId: "n1", stateRoot: root, log });
let ran = 0;
const server = new AccessServer({
  nodeId: "n1",
  socketPath,
  policy: (t) => (t.id === "app" || t.id === "dev" ? policy : undefined),
  handlers: {
    // Echoes stdin in upper case, then exits with the length of what it read.
    exec: async (c) => {
      ran++;
      let n = 0;
      await new Promise<void>((resolve) =>
        c.session.onStdin(
          (b) => {
            n += b.length;
            void c.session.write("stdout", b.toString().toUpperCase());
          },
          () => resolve(),
        ),
      );
      await c.session.write("stderr", "done\n");
      return n % 256;
    },
    "file-read": async (c) => {
      await c.session.write("stdout", Buffer.alloc(8 * 1024 * 1024, 7));
      return 0;
    },
  },
  nonces: new NonceCache(),
  sessions,
  log,
});

beforeAll(() => server.start());
afterAll(() => server.stop());

function collect() {
  const out = new PassThrough();
  const err = new PassThrough();
  const chunks: Buffer[] = [];
  let e = "";
  out.on("data", (c: Buffer) => chunks.push(c));
  err.on("data", (c: Buffer) => {
    e += c.toString();
  });
  return { streams: { stdout: out, stderr: err }, out: () => Buffer.concat(chunks), err: () => e };
}

const request = (action: "exec" | "file-read", target = { kind: "environment" as const, id: "app" }) => ({
  url: `unix:${socketPath}`,
  operator: { name: "alice", privateKey: alice.privateKey },
  node: "n1",
  target,
  action,
  request: action === "exec" ? { service: "web", command: ["x"] } : { path: "/f" },
});

describe("AccessServer", () => {
  it("streams stdin to a handler and its output back, and passes its exit code", async () => {
    const c = collect();
    const s = await openSession(request("exec"), c.streams);
    const input = new PassThrough();
    const pumped = pumpStdin(s, input);
    input.end("hello");
    await pumped;
    expect(await s.done).toBe(5);
    expect(c.out().toString()).toBe("HELLO");
    expect(c.err()).toBe("done\n");
    expect(sessions.list().at(-1)).toMatchObject({ operator: "alice", action: "exec", exitCode: 0 + 5 });
  });

  it("keeps large output whole (frames and backpressure)", async () => {
    const c = collect();
    const s = await openSession(request("file-read", { kind: "workspace", id: "dev" } as never), c.streams);
    expect(await s.done).toBe(0);
    expect(c.out().length).toBe(8 * 1024 * 1024);
    expect(c.out().every((b) => b === 7)).toBe(true);
  });

  it("refuses before any handler runs, and records the refusal", async () => {
    const before = ran;
    await expect(
      openSession({ ...request("exec"), target: { kind: "environment", id: "gone" } }, collect().streams),
    ).rejects.toMatchObject({ code: "NO_SUCH_TARGET", status: 404 });
    await expect(openSession({ ...request("exec"), node: "n2" }, collect().streams)).rejects.toBeInstanceOf(
      AccessRefused,
    );
    expect(ran).toBe(before);
    expect(sessions.list().at(-1)?.refused?.code).toBe("WRONG_NODE");
  });

  it("answers an action it does not serve with 501", async () => {
    await expect(
      openSession(
        { ...request("exec"), action: "shell", target: { kind: "workspace", id: "dev" }, request: {} },
        collect().streams,
      ),
    ).rejects.toMatchObject({ status: 501, code: "NOT_SERVED" });
  });
});
