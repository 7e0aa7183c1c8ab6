// The access server on its Unix socket with the CLI's client: framing, stdin and exit codes,
// refusals before any handler runs, the session record. Handlers here are small fakes; the real
// ones run against Docker in test/system/access-*.test.ts.
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import { AccessRefused, downloadFile, openSession, pumpStdin, uploadFile } from "../../cli/access/client";
import {
  ACCESS_PROTOCOL,
  decodeAccessToken,
  encodeAccessToken,
  PROTOCOL_HEADER,
  requestSchemas,
  signAccessToken,
  type TargetPolicy,
} from "../../contract/access";
import { generateSigningKeyPair } from "../../contract/payload";
import { createLogger } from "../../lib/log";
import { spawnStreaming } from "../../lib/process";
import { NonceCache } from "../../node-agent/access/nonce-cache";
import { AccessServer } from "../../node-agent/access/server";
import { SessionLog } from "../../node-agent/access/session-log";

const root = mkdtempSync(join(tmpdir(), "berth-access-"));
/** What the fake file-read's child sends for /w/f (bytes "d"). */
const DOWNLOAD_SIZE = 3 * 1024 * 1024 + 2;
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
    // Counts the upload's bytes, says so on stderr, exits with 0 when all `size` bytes came. A
    // body it may take (the client waits for 100 Continue) goes to a child process instead, as
    // the splice relay takes it (node-agent/access/splice-relay.ts), which hashes it.
    "file-write": async (c) => {
      const size = (c.request as { size?: number }).size ?? -1;
      const body = c.session.takeBody?.(size);
      if (body) {
        const p = spawnStreaming("sh", ["-c", 'head -c "$1" | sha256sum', "sh", String(size)], {
          stdin: body,
          signal: c.session.signal,
        });
        c.session.sendContinue?.();
        let out = "";
        p.stdout.on("data", (d: Buffer) => {
          out += d.toString();
        });
        const code = await p.exit;
        await c.session.write("stderr", `relayed ${out.split(" ")[0]}\n`);
        return code;
      }
      let n = 0;
      await new Promise<void>((resolve) =>
        c.session.onStdin((b) => {
          n += b.length;
        }, resolve),
      );
      await c.session.write("stderr", `got ${n}\n`);
      return n === size ? 0 : 3;
    },
    // In a WebSocket session: 8 MiB of 7s on stdout. Asked with a plain GET (protocol 6): /w/f is
    // written by a child process on the response's socket, as the splice relay writes it; /w/cut
    // stops after half its length; /w/missing is refused as the read check refuses it; anything
    // else is to be read in a session.
    "file-read": async (c) => {
      const path = (c.request as { path: string }).path;
      const answer = c.session.download;
      if (!answer) {
        await c.session.write("stdout", Buffer.alloc(8 * 1024 * 1024, 7));
        return 0;
      }
      if (path === "/w/missing") {
        await c.session.write("stderr", "/w/missing: no such file\n");
        return 1;
      }
      if (path !== "/w/f" && path !== "/w/cut") {
        answer.useSession();
        return 0;
      }
      const socket = answer.take();
      if (!socket) return 9;
      const send = path === "/w/f" ? DOWNLOAD_SIZE : DOWNLOAD_SIZE / 2;
      const p = spawnStreaming(
        "sh",
        [
          "-c",
          'exec 3>&0; printf "%scontent-length: %s\\r\\n\\r\\n" "$1" "$2" >&3 && head -c "$3" /dev/zero | tr "\\0" "d" >&3',
          "sh",
          answer.head(),
          String(DOWNLOAD_SIZE),
          String(send),
        ],
        { stdin: socket, signal: c.session.signal },
      );
      const code = await p.exit;
      answer.answered();
      return code;
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

describe("a CLI and an agent of different protocol versions", () => {
  // An agent of protocol 1, as every agent before version 2 was: it names no version, and its
  // file-write schema is strict and has no `size`.
  let oldUrl = "";
  const seen: Record<string, unknown>[] = [];
  const v1 = requestSchemas["file-write"].omit({ size: true });
  const old = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ nodeId: "old" }));
  });
  const wss = new WebSocketServer({ noServer: true });
  old.on("upgrade", (req, socket, head) => {
    const request = decodeAccessToken(req.headers.authorization).payload.request;
    seen.push(request);
    const r = v1.safeParse(request);
    if (!r.success) {
      const body = JSON.stringify({ code: "MALFORMED", reason: r.error.issues[0]?.message });
      socket.end(
        `HTTP/1.1 400 MALFORMED\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
      );
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.send(JSON.stringify({ type: "exit", code: 0 }));
      ws.close(1000);
    });
  });
  beforeAll(async () => {
    await new Promise<void>((r) => old.listen(0, "127.0.0.1", r));
    oldUrl = `http://127.0.0.1:${(old.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => old.close(() => r())));

  const write = (node?: string) => ({
    url: oldUrl,
    operator: { name: "alice", privateKey: alice.privateKey },
    ...(node ? { node } : {}),
    target: { kind: "workspace" as const, id: "dev" },
    action: "file-write" as const,
    request: { path: "/w/f", mode: 0o644, size: 5 },
  });

  it("writes the request for the version the agent's node answer implies (one attempt)", async () => {
    seen.length = 0;
    const s = await openSession(write(), collect().streams);
    expect(await s.done).toBe(0);
    expect(seen).toEqual([{ path: "/w/f", mode: 0o644 }]);
  });

  it("with --node (no question asked), writes for its own version, then once for version 1", async () => {
    seen.length = 0;
    const s = await openSession(write("old"), collect().streams);
    expect(await s.done).toBe(0);
    expect(seen).toEqual([
      { path: "/w/f", mode: 0o644, size: 5, protocol: ACCESS_PROTOCOL },
      { path: "/w/f", mode: 0o644 },
    ]);
  });

  it("names its version to the CLI: GET …/node and every answer's header", async () => {
    const got = await new Promise<{ header: unknown; body: string }>((resolve, reject) => {
      const req = httpRequest({ socketPath, path: "/.berth/access/v1/node" }, (res) => {
        let body = "";
        res.on("data", (c: Buffer) => {
          body += c.toString();
        });
        res.on("end", () => resolve({ header: res.headers[PROTOCOL_HEADER], body }));
      });
      req.on("error", reject);
      req.end();
    });
    expect(got.header).toBe(String(ACCESS_PROTOCOL));
    expect(JSON.parse(got.body)).toEqual({ nodeId: "n1", protocol: ACCESS_PROTOCOL });
    const refused = await openSession({ ...request("exec"), node: "n2" }, collect().streams).catch((e) => e);
    expect(refused).toMatchObject({ code: "WRONG_NODE", protocol: ACCESS_PROTOCOL });
  });

  it("uploads a file to an agent older than protocol 3 in a WebSocket session", async () => {
    seen.length = 0;
    const f = join(root, "small.bin");
    writeFileSync(f, "hello");
    const code = await uploadFile(write(), f, 5, collect().streams);
    expect(code).toBe(0);
    expect(seen).toEqual([{ path: "/w/f", mode: 0o644 }]);
  });

  it("does not retry a refusal from an agent that names its version", async () => {
    const before = sessions.list().length;
    await expect(
      openSession(
        {
          ...request("exec"),
          action: "file-write",
          target: { kind: "workspace", id: "dev" },
          request: { path: "" },
        },
        collect().streams,
      ),
    ).rejects.toMatchObject({ code: "MALFORMED", protocol: ACCESS_PROTOCOL });
    expect(sessions.list().length).toBe(before + 1);
  });
});

describe("a file upload as one HTTP PUT (protocol 3)", () => {
  const file = join(root, "upload.bin");
  const size = 3 * 1024 * 1024 + 7;
  writeFileSync(file, Buffer.alloc(size, 1));
  const upload = (over: Record<string, unknown> = {}) => ({
    url: `unix:${socketPath}`,
    operator: { name: "alice", privateKey: alice.privateKey },
    target: { kind: "workspace" as const, id: "dev" },
    action: "file-write" as const,
    request: { path: "/w/f", size },
    ...over,
  });

  const sha = createHash("sha256").update(readFileSync(file)).digest("hex");
  /** A PUT as a CLI of protocol 3 sends it, or with `Expect: 100-continue` and the body at once. */
  const rawPut = (expectContinue: boolean) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const token = signAccessToken({
        operator: "alice",
        privateKey: alice.privateKey,
        node: "n1",
        target: { kind: "workspace", id: "dev" },
        action: "file-write",
        request: { path: "/w/f", size, protocol: 3 },
      });
      const req = httpRequest(
        {
          socketPath,
          method: "PUT",
          path: "/.berth/access/v1/workspaces/dev/file-write",
          headers: {
            authorization: encodeAccessToken(token),
            "content-length": size,
            ...(expectContinue ? { expect: "100-continue" } : {}),
          },
        },
        (r) => {
          let text = "";
          r.on("data", (d: Buffer) => {
            text += d.toString();
          });
          r.on("end", () => resolve({ status: r.statusCode ?? 0, text }));
        },
      );
      req.on("error", reject);
      req.end(readFileSync(file));
    });

  it("sends the file as the body once the agent asks for it, to a child process that reads it from the socket, recorded like a session", async () => {
    const c = collect();
    const before = sessions.list().length;
    expect(await uploadFile(upload(), file, size, c.streams)).toBe(0);
    expect(c.err()).toBe(`relayed ${sha}\n`);
    expect(sessions.list().length).toBe(before + 1);
    expect(sessions.list().at(-1)).toMatchObject({ action: "file-write", exitCode: 0, detail: "path=/w/f" });
  });

  it("reads the body itself from a client that does not wait for 100 Continue (a protocol 3 CLI)", async () => {
    const r = await rawPut(false);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text)).toMatchObject({ type: "exit", code: 0 });
    expect(Buffer.from(JSON.parse(r.text).stderr, "base64").toString()).toBe(`got ${size}\n`);
  });

  it("takes every byte, whichever way, from a client that asks for 100 Continue but sends at once", async () => {
    const r = await rawPut(true);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text)).toMatchObject({ type: "exit", code: 0 });
    // The body reached the handler either before it could be handed over (read here) or after.
    expect([`got ${size}\n`, `relayed ${sha}\n`]).toContain(
      Buffer.from(JSON.parse(r.text).stderr, "base64").toString(),
    );
  });

  it("refuses before reading the body, with the refusal's code and the agent's version", async () => {
    const refused = await uploadFile(upload({ node: "n2" }), file, size, collect().streams).catch((e) => e);
    expect(refused).toBeInstanceOf(AccessRefused);
    expect(refused).toMatchObject({ status: 403, code: "WRONG_NODE", protocol: ACCESS_PROTOCOL });
  });

  it("serves only file-write as a PUT", async () => {
    const res = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        { socketPath, method: "PUT", path: "/.berth/access/v1/environments/app/exec" },
        (r) => {
          r.resume();
          resolve(r.statusCode ?? 0);
        },
      );
      req.on("error", reject);
      req.end("x");
    });
    expect(res).toBe(405);
  });
});

describe("a file download as one HTTP GET (protocol 6)", () => {
  const read = (path: string, over: Record<string, unknown> = {}) => ({
    url: `unix:${socketPath}`,
    operator: { name: "alice", privateKey: alice.privateKey },
    target: { kind: "workspace" as const, id: "dev" },
    action: "file-read" as const,
    request: { path },
    ...over,
  });

  it("writes the body a child process wrote on the response's socket, of the length it named, recorded like a session", async () => {
    const to = join(root, "down.bin");
    const before = sessions.list().length;
    const c = collect();
    expect(await downloadFile(read("/w/f"), to, c.streams)).toBe(0);
    expect(readFileSync(to).equals(Buffer.alloc(DOWNLOAD_SIZE, "d"))).toBe(true);
    expect(c.err()).toBe("");
    expect(sessions.list().length).toBe(before + 1);
    // The agent records the end once the child has exited, which may be after the client has the
    // last byte.
    const deadline = Date.now() + 20_000;
    while (sessions.list().at(-1)?.exitCode === undefined && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    expect(sessions.list().at(-1)).toMatchObject({ action: "file-read", exitCode: 0, detail: "path=/w/f" });
  });

  it("fails, naming the file, when the body stops short of its length", async () => {
    const to = join(root, "cut.bin");
    // How much of it was written before the end was seen depends on timing: the message says it.
    const e = await downloadFile(read("/w/cut"), to, collect().streams).catch((x: Error) => x);
    expect(String(e)).toMatch(
      new RegExp(
        `^Error: the download of /w/cut was cut short: \\d+ of ${DOWNLOAD_SIZE} bytes came \\(${to} is incomplete\\)$`,
      ),
    );
  });

  it("says what the read check said, exits 1 and writes no local file, for a file it cannot read", async () => {
    const to = join(root, "missing.bin");
    const c = collect();
    expect(await downloadFile(read("/w/missing"), to, c.streams)).toBe(1);
    expect(c.err()).toBe("/w/missing: no such file\n");
    expect(existsSync(to)).toBe(false);
  });

  it("reads a file the node serves only in a session in one (a new token)", async () => {
    const to = join(root, "session.bin");
    const before = sessions.list().length;
    expect(await downloadFile(read("/dev/stdin"), to, collect().streams)).toBe(0);
    expect(readFileSync(to).equals(Buffer.alloc(8 * 1024 * 1024, 7))).toBe(true);
    expect(sessions.list().length).toBe(before + 2);
  });

  it("refuses before any handler runs, and writes no local file", async () => {
    const to = join(root, "refused.bin");
    const refused = await downloadFile(read("/w/f", { node: "n2" }), to, collect().streams).catch((e) => e);
    expect(refused).toBeInstanceOf(AccessRefused);
    expect(refused).toMatchObject({ status: 403, code: "WRONG_NODE", protocol: ACCESS_PROTOCOL });
    expect(existsSync(to)).toBe(false);
  });
});
