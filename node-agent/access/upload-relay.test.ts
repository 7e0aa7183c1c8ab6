// The upload relay as the agent starts it: the agent bundle's entry (from source, through tsx)
// with a socket as its standard input, in front of a fake engine on a Unix socket that records
// the archive it is sent. The real engine's extraction is in test/system/access-workspace.test.ts.
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer, type IncomingMessage } from "node:http";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tarTrailer } from "./docker-archive";
import { parseRelayArgument, type RelaySpec, relayArgument, startUploadRelay } from "./upload-relay";

const dir = mkdtempSync(join(tmpdir(), "berth-relay-"));
const engineSocket = join(dir, "engine.sock");
const clientSocket = join(dir, "client.sock");
const entry = join(__dirname, "..", "cli", "bin.ts");
// tsx's loader by its file (the relay runs in /, where no node_modules resolves it).
const tsx = pathToFileURL(join(__dirname, "..", "..", "node_modules", "tsx", "dist", "loader.mjs")).href;
const relay = { file: process.execPath, args: ["--import", tsx, entry, "upload-relay"] };

interface Received {
  url: string;
  length: number;
  body: Buffer;
  complete: boolean;
}
let answer: { status: number; body: string } = { status: 200, body: "" };
let received: Promise<Received>;
let gotRequest: (r: Received) => void = () => {};
/** The engine reads a chunk, then waits a moment: the relay's reading must wait for it. */
let slowEngine = false;
const engine = createHttpServer((req: IncomingMessage, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => {
    chunks.push(c);
    if (!slowEngine) return;
    req.pause();
    setTimeout(() => req.resume(), 1);
  });
  const done = (complete: boolean) =>
    gotRequest({
      url: req.url ?? "",
      length: Number(req.headers["content-length"]),
      body: Buffer.concat(chunks),
      complete,
    });
  req.on("aborted", () => done(false));
  req.on("end", () => {
    done(true);
    res.writeHead(answer.status, { "content-type": "application/json" });
    res.end(answer.body);
  });
});
// The sockets the relay reads: each accepted connection of the "proxy" side.
let accepted: (s: Socket) => void = () => {};
const front: Server = createServer((s) => accepted(s));

beforeAll(async () => {
  await new Promise<void>((r) => engine.listen(engineSocket, r));
  await new Promise<void>((r) => front.listen(clientSocket, r));
});
afterAll(async () => {
  engine.close();
  front.close();
  rmSync(dir, { recursive: true, force: true });
});

const spec = (size: number, over: Partial<RelaySpec> = {}): RelaySpec => ({
  engineSocket,
  container: "c0ffee",
  dir: "/workspaces/app",
  name: "f.bin",
  size,
  mode: 0o640,
  uid: 1000,
  gid: 1001,
  idleSeconds: 30,
  ...over,
});

/** A connection whose server side the relay gets as stdin; the client side is what the test writes. */
async function relayed(s: RelaySpec, write: (client: Socket) => void) {
  received = new Promise((r) => {
    gotRequest = r;
  });
  const server = new Promise<Socket>((r) => {
    accepted = r;
  });
  const client = createConnection(clientSocket);
  const ours = await server;
  const outcome = startUploadRelay(relay, ours, s, new AbortController().signal);
  write(client);
  const r = await outcome;
  client.destroy();
  ours.destroy();
  return r;
}

describe("the upload relay", () => {
  it("streams exactly the declared bytes to the engine as one tar, as the agent framed it", async () => {
    const data = Buffer.alloc(3 * 1024 * 1024 + 5);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
    const r = await relayed(spec(data.length), (c) => {
      // In pieces, as a proxy forwards them.
      for (let i = 0; i < data.length; i += 100_000) c.write(data.subarray(i, i + 100_000));
    });
    expect(r).toEqual({ code: 0, stderr: "" });
    const got = await received;
    expect(got.complete).toBe(true);
    expect(got.url).toBe(
      "/v1.45/containers/c0ffee/archive?path=%2Fworkspaces%2Fapp&copyUIDGID=1&noOverwriteDirNonDir=1",
    );
    const trailer = tarTrailer(data.length);
    expect(got.length).toBe(512 + data.length + trailer.length);
    expect(got.body.length).toBe(got.length);
    const header = got.body.subarray(0, 512);
    expect(header.subarray(0, 5).toString()).toBe("f.bin");
    expect(header.subarray(100, 107).toString()).toBe("0000640");
    expect(parseInt(header.subarray(108, 115).toString(), 8)).toBe(1000);
    expect(parseInt(header.subarray(116, 123).toString(), 8)).toBe(1001);
    expect(parseInt(header.subarray(124, 135).toString(), 8)).toBe(data.length);
    const hash = (b: Buffer) => createHash("sha256").update(b).digest("hex");
    expect(hash(got.body.subarray(512, 512 + data.length))).toBe(hash(data));
    expect(got.body.subarray(512 + data.length).equals(trailer)).toBe(true);
  });

  it("waits for an engine slower than the client, and loses or reorders nothing", async () => {
    slowEngine = true;
    try {
      const data = Buffer.alloc(24 * 1024 * 1024 + 3);
      for (let i = 0; i + 4 <= data.length; i += 4) data.writeUInt32LE(i, i);
      const r = await relayed(spec(data.length), (c) => c.write(data));
      expect(r).toEqual({ code: 0, stderr: "" });
      const got = await received;
      expect(got.complete).toBe(true);
      expect(got.body.subarray(512, 512 + data.length).equals(data)).toBe(true);
    } finally {
      slowEngine = false;
    }
  });

  it("fails, and leaves the engine an unfinished tar, when the client stops short", async () => {
    const r = await relayed(spec(1000), (c) => c.end(Buffer.alloc(600, 1)));
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("the upload ended after 600 of 1000 bytes");
    expect((await received).complete).toBe(false);
  });

  it("fails when more bytes come than were declared", async () => {
    const r = await relayed(spec(1000), (c) => c.write(Buffer.alloc(1500, 1)));
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("more than the 1000 bytes announced arrived");
  });

  it("gives up on a client that goes quiet", async () => {
    const r = await relayed(spec(1000, { idleSeconds: 1 }), (c) => c.write(Buffer.alloc(10, 1)));
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("no byte of the upload for 1 s (10 of 1000 came)");
  });

  it("says why the engine refused the file", async () => {
    answer = { status: 400, body: JSON.stringify({ message: "extraction point is not a directory" }) };
    try {
      const r = await relayed(spec(10), (c) => c.write(Buffer.alloc(10, 1)));
      expect(r.code).toBe(1);
      expect(r.stderr).toBe("the engine refused the file (400): extraction point is not a directory");
    } finally {
      answer = { status: 200, body: "" };
    }
  });
});

describe("the relay's process", () => {
  it("gets none of the agent's V8 flags (not its command line's, not NODE_OPTIONS) nor its malloc settings", async () => {
    const before = process.env.NODE_OPTIONS;
    const arena = process.env.MALLOC_ARENA_MAX;
    process.env.NODE_OPTIONS = "--optimize-for-size";
    process.env.MALLOC_ARENA_MAX = "2";
    try {
      // A stand-in relay that reports what it was started with.
      const script = join(dir, "probe.js");
      writeFileSync(
        script,
        "console.error(JSON.stringify([process.env.NODE_OPTIONS ?? null, process.execArgv, process.env.MALLOC_ARENA_MAX ?? null]));\n",
      );
      const probe = { file: process.execPath, args: [script] };
      const server = new Promise<Socket>((res) => {
        accepted = res;
      });
      const client = createConnection(clientSocket);
      const ours = await server;
      const out = await startUploadRelay(probe, ours, spec(0), new AbortController().signal);
      client.destroy();
      ours.destroy();
      expect(out).toEqual({ code: 0, stderr: JSON.stringify([null, [], null]) });
    } finally {
      if (before === undefined) delete process.env.NODE_OPTIONS;
      else process.env.NODE_OPTIONS = before;
      if (arena === undefined) delete process.env.MALLOC_ARENA_MAX;
      else process.env.MALLOC_ARENA_MAX = arena;
    }
  });
});

describe("the relay's argument", () => {
  it("round-trips and names the field that is wrong", () => {
    expect(parseRelayArgument(relayArgument(spec(5)))).toEqual(spec(5));
    expect(() => parseRelayArgument("nope")).toThrow("upload-relay: the argument is not JSON");
    expect(() => parseRelayArgument(JSON.stringify({ ...spec(5), container: "" }))).toThrow(
      /^upload-relay: container: /,
    );
    expect(() => parseRelayArgument(JSON.stringify({ ...spec(5), size: -1 }))).toThrow(
      /^upload-relay: size: /,
    );
    expect(() => parseRelayArgument(JSON.stringify({ ...spec(5), uid: 1.5 }))).toThrow(
      /^upload-relay: uid: /,
    );
    expect(() => parseRelayArgument("[]")).toThrow(/^upload-relay: /);
    expect(() => parseRelayArgument(JSON.stringify({ ...spec(5), idleSeconds: 0 }))).toThrow(
      /^upload-relay: idleSeconds: /,
    );
  });
});
