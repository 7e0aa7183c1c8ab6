// `berth workspace cp`'s upload as the CLI sends it, to a stand-in agent on a local HTTP server:
// no request body over the part size (Cloudflare's proxy refuses a body over 100 MB on its Free
// and Pro plans), each part asked for with `Expect: 100-continue` and sent only after the 100,
// the parts in order with one upload id and their own token, and the file whole at the end. The
// real agent is in test/system/access-workspace.test.ts.
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeAccessToken, MAX_PART_BYTES } from "../../contract/access";
import { generateSigningKeyPair } from "../../contract/payload";
import { uploadFile } from "./client";

const dir = mkdtempSync(join(tmpdir(), "berth-upload-"));
const operator = { name: "alice", privateKey: generateSigningKeyPair().privateKey };

interface Seen {
  request: Record<string, unknown>;
  nonce: string;
  length: number;
  body: Buffer;
  bodyBeforeContinue: number;
}
let seen: Seen[] = [];
/** PUTs open at once, now and at most. */
let open = 0;
let mostOpen = 0;
let protocol = 7;
/** What the stand-in answers a PUT (after reading its body). */
let answer: (s: Seen) => Record<string, unknown> = () => ({ type: "exit", code: 0, stderr: "" });

const server: Server = createServer((req, res) => {
  if (req.method === "GET") {
    res.end(JSON.stringify({ nodeId: "node-1", protocol }));
    return;
  }
  read(req, 0, res);
});
// A PUT that expects 100-continue: no byte may come before the 100.
server.on("checkContinue", (req: IncomingMessage, res) => {
  let early = 0;
  req.socket.once("data", (c: Buffer) => {
    early += c.length;
  });
  setTimeout(() => {
    res.writeContinue();
    read(req, early, res);
  }, 5);
});

function read(req: IncomingMessage, early: number, res: import("node:http").ServerResponse) {
  const t = decodeAccessToken(String(req.headers.authorization));
  mostOpen = Math.max(mostOpen, ++open);
  res.once("finish", () => open--);
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const s: Seen = {
      request: t.payload.request,
      nonce: t.payload.nonce,
      length: Number(req.headers["content-length"]),
      body: Buffer.concat(chunks),
      bodyBeforeContinue: early,
    };
    seen.push(s);
    res.end(JSON.stringify(answer(s)));
  });
}

let url = "";
beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

const send = (file: string, size: number, partBytes?: number) =>
  uploadFile(
    {
      url,
      operator,
      target: { kind: "workspace", id: "ws" },
      action: "file-write",
      request: { path: "big.bin", mode: 0o644, size },
    },
    file,
    size,
    { stdout: new PassThrough(), stderr: new PassThrough() },
    partBytes ? { partBytes } : {},
  );

describe("an upload from the CLI", () => {
  it("never sends a request body over the part size; the parts are the file, the last sent once the others landed", async () => {
    seen = [];
    const data = randomBytes(5 * 1024 * 1024 + 123);
    const file = join(dir, "five.bin");
    writeFileSync(file, data);
    expect(await send(file, data.length, 1024 * 1024)).toBe(0);
    expect(seen).toHaveLength(6);
    // Two at a time, never more.
    expect(mostOpen).toBe(2);
    expect(Math.max(...seen.map((s) => s.body.length))).toBeLessThanOrEqual(1024 * 1024);
    expect(seen.every((s) => s.length === s.body.length && s.bodyBeforeContinue === 0)).toBe(true);
    expect(new Set(seen.map((s) => s.request.upload)).size).toBe(1);
    expect(new Set(seen.map((s) => s.nonce)).size).toBe(6);
    const byOffset = [...seen].sort((a, b) => (a.request.offset as number) - (b.request.offset as number));
    expect(byOffset.map((s) => s.request.offset)).toEqual([0, 1, 2, 3, 4, 5].map((i) => i * 1024 * 1024));
    expect(seen.at(-1)?.request.offset).toBe(5 * 1024 * 1024);
    expect(seen.every((s) => s.request.total === data.length && s.request.size === s.body.length)).toBe(true);
    const whole = Buffer.concat(byOffset.map((s) => s.body));
    expect(createHash("sha256").update(whole).digest("hex")).toBe(
      createHash("sha256").update(data).digest("hex"),
    );
  });

  it("keeps every part under Cloudflare's 100 MB cap by default", () => {
    expect(MAX_PART_BYTES).toBeLessThanOrEqual(100_000_000 - 64 * 1024);
  });

  it("sends a file of one part (or to an agent without parts) as one body, with no part fields", async () => {
    seen = [];
    const file = join(dir, "small.bin");
    writeFileSync(file, "small");
    expect(await send(file, 5, 1024)).toBe(0);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.request).not.toHaveProperty("offset");
    protocol = 6;
    try {
      seen = [];
      const data = randomBytes(3000);
      writeFileSync(file, data);
      expect(await send(file, data.length, 1024)).toBe(0);
      expect(seen.map((s) => s.body.length)).toEqual([3000]);
      expect(seen[0]?.request).not.toHaveProperty("upload");
    } finally {
      protocol = 7;
    }
  });

  it("stops at a part the agent refuses and returns its code; the last part never goes", async () => {
    seen = [];
    answer = (s) =>
      s.request.offset === 1024
        ? { type: "exit", code: 1, stderr: Buffer.from("no room\n").toString("base64") }
        : { type: "exit", code: 0, stderr: "" };
    try {
      const file = join(dir, "refused.bin");
      writeFileSync(file, randomBytes(4096));
      expect(await send(file, 4096, 1024)).toBe(1);
      expect(seen.length).toBeLessThanOrEqual(3);
      expect(seen.map((s) => s.request.offset)).not.toContain(3072);
    } finally {
      answer = () => ({ type: "exit", code: 0, stderr: "" });
    }
  });
});
