// The splice relay as the agent starts it (the node's python3, its socket as stdin), in front of a
// fake engine on a Unix socket: uploads (the exact bytes the engine gets, short and refused ones)
// and downloads (the exact answer the client gets, PAX headers, what is refused before a byte goes
// to the client, a cut-short archive). The real engine is in test/system/access-workspace.test.ts.
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getArchiveRequest, putArchiveHead, tarHeader, tarTrailer } from "./docker-archive";
import {
  findSplicePython,
  NODE_PYTHON,
  RELAY_CUT_SHORT,
  type SpliceDownload,
  type SpliceUpload,
  startSpliceRelay,
} from "./splice-relay";

const dir = mkdtempSync(join(tmpdir(), "berth-splice-"));
const engineSocket = join(dir, "engine.sock");
const clientSocket = join(dir, "client.sock");

/** What the fake engine does with a connection: it gets every byte the relay sent until it ends. */
let engineAnswer: (sock: Socket, got: () => Buffer) => void = () => {};
let engineGot: Promise<Buffer> = Promise.resolve(Buffer.alloc(0));
const engine: Server = createServer((sock) => {
  const chunks: Buffer[] = [];
  let done: (b: Buffer) => void = () => {};
  engineGot = new Promise((r) => {
    done = r;
  });
  sock.on("data", (c: Buffer) => chunks.push(c));
  sock.on("close", () => done(Buffer.concat(chunks)));
  sock.on("error", () => {});
  engineAnswer(sock, () => Buffer.concat(chunks));
});
let accepted: (s: Socket) => void = () => {};
const front: Server = createServer((s) => accepted(s));

beforeAll(async () => {
  await new Promise<void>((r) => engine.listen(engineSocket, r));
  await new Promise<void>((r) => front.listen(clientSocket, r));
});
afterAll(() => {
  engine.close();
  front.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A connection whose server side the relay gets as stdin; the client side is the test's. */
async function relayed(
  spec: SpliceUpload | SpliceDownload,
  use: (client: Socket) => void,
  python = NODE_PYTHON,
) {
  const server = new Promise<Socket>((r) => {
    accepted = r;
  });
  const client = createConnection(clientSocket);
  client.on("error", () => {});
  const received: Buffer[] = [];
  client.on("data", (c: Buffer) => received.push(c));
  const clientClosed = new Promise<void>((r) => client.once("close", () => r()));
  const ours = await server;
  const outcome = startSpliceRelay(python, ours, spec, new AbortController().signal);
  use(client);
  const r = await outcome;
  // The agent lets go of its own descriptor once the child is done (as http-download.ts does).
  ours.destroy();
  await clientClosed;
  return { ...r, client: Buffer.concat(received) };
}

const hash = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const b64 = (s: string | Buffer) => Buffer.from(s).toString("base64");

describe("the splice relay's Python", () => {
  it("is there on this node, with os.splice", async () => {
    expect(await findSplicePython()).toBe(NODE_PYTHON);
    expect(await findSplicePython(join(dir, "no-python"))).toBeUndefined();
  });
});

describe("an upload through the splice relay", () => {
  const upload = (size: number, over: Partial<SpliceUpload> = {}): SpliceUpload => {
    const header = tarHeader({ name: "f.bin", size, mode: 0o640, uid: 1000, gid: 1001 });
    const trailer = tarTrailer(size);
    return {
      mode: "upload",
      engineSocket,
      before: b64(
        Buffer.concat([
          Buffer.from(putArchiveHead("c0ffee", "/workspaces/app", 512 + size + trailer.length)),
          header,
        ]),
      ),
      size,
      after: b64(trailer),
      idleSeconds: 30,
      ...over,
    };
  };
  const answering = (status: number, body: string) => {
    engineAnswer = (sock, got) => {
      const check = () => {
        const b = got();
        const at = b.indexOf("\r\n\r\n");
        const length = at < 0 ? -1 : Number(/content-length: (\d+)/i.exec(b.subarray(0, at).toString())?.[1]);
        if (at >= 0 && b.length >= at + 4 + length) {
          sock.off("data", check);
          sock.end(
            `HTTP/1.1 ${status} X\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
          );
        }
      };
      sock.on("data", check);
    };
  };

  it("sends the engine its request head, the tar header, exactly the declared bytes and the tar's end", async () => {
    answering(200, "");
    const data = Buffer.alloc(5 * 1024 * 1024 + 5);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
    const r = await relayed(upload(data.length), (c) => {
      for (let i = 0; i < data.length; i += 100_000) c.write(data.subarray(i, i + 100_000));
    });
    expect(r).toMatchObject({ code: 0, stderr: "" });
    // Nothing to the client: the agent answers it.
    expect(r.client.length).toBe(0);
    const got = await engineGot;
    const at = got.indexOf("\r\n\r\n") + 4;
    expect(got.subarray(0, at).toString()).toBe(
      putArchiveHead("c0ffee", "/workspaces/app", 512 + data.length + tarTrailer(data.length).length),
    );
    const tar = got.subarray(at);
    expect(tar.subarray(0, 5).toString()).toBe("f.bin");
    expect(parseInt(tar.subarray(124, 135).toString(), 8)).toBe(data.length);
    expect(hash(tar.subarray(512, 512 + data.length))).toBe(hash(data));
    expect(tar.subarray(512 + data.length).equals(tarTrailer(data.length))).toBe(true);
  });

  it("fails when the client stops short, and the engine gets no tar's end", async () => {
    answering(200, "");
    const r = await relayed(upload(1000), (c) => c.end(Buffer.alloc(600, 1)));
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("the upload ended after 600 of 1000 bytes");
    const got = await engineGot;
    expect(got.length).toBe(got.indexOf("\r\n\r\n") + 4 + 512 + 600);
  });

  it("gives up on a client that goes quiet", async () => {
    answering(200, "");
    const r = await relayed(upload(1000, { idleSeconds: 1 }), (c) => c.write(Buffer.alloc(10, 1)));
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("no byte of the file came for 1 s");
  });

  it("says why the engine refused the file", async () => {
    answering(400, JSON.stringify({ message: "extraction point is not a directory" }));
    const r = await relayed(upload(10), (c) => c.write(Buffer.alloc(10, 1)));
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("the engine refused the file (400): extraction point is not a directory");
  });

  it("runs with none of the agent's environment", async () => {
    process.env.BERTH_TEST_SECRET = "s3cret";
    try {
      // A stand-in interpreter that reports its environment.
      const probe = join(dir, "probe.sh");
      writeFileSync(probe, '#!/bin/sh\nenv > "$0.env"\n', { mode: 0o755 });
      const r = await relayed(upload(0), () => {}, probe);
      expect(r.code).toBe(0);
      const env = readFileSync(`${probe}.env`, "utf8");
      expect(env).not.toContain("s3cret");
      expect(env).not.toContain("NODE_OPTIONS");
    } finally {
      delete process.env.BERTH_TEST_SECRET;
    }
  });
});

describe("a download through the splice relay", () => {
  const head = "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\nconnection: close\r\n";
  const download = (over: Partial<SpliceDownload> = {}): SpliceDownload => ({
    mode: "download",
    engineSocket,
    before: b64(getArchiveRequest("c0ffee", "/workspaces/app/f.bin")),
    clientHead: b64(head),
    path: "f.bin",
    uid: 1000,
    groups: [1000, 27],
    idleSeconds: 30,
    ...over,
  });
  /** The engine answers the archive GET with `tar` (HTTP/1.0: no framing, the end is the close). */
  const serving = (tar: Buffer, o: { status?: number; cut?: number } = {}) => {
    engineAnswer = (sock, got) => {
      const check = () => {
        if (!got().includes("\r\n\r\n")) return;
        sock.off("data", check);
        const status = o.status ?? 200;
        sock.write(`HTTP/1.0 ${status} X\r\ncontent-type: application/x-tar\r\n\r\n`);
        sock.end(o.cut !== undefined ? tar.subarray(0, o.cut) : tar);
      };
      sock.on("data", check);
    };
  };
  const tarOf = (data: Buffer, e: { uid?: number; gid?: number; mode?: number } = {}, pre: Buffer[] = []) =>
    Buffer.concat([
      ...pre,
      tarHeader({
        name: "f.bin",
        size: data.length,
        mode: e.mode ?? 0o600,
        uid: e.uid ?? 1000,
        gid: e.gid ?? 1000,
      }),
      data,
      tarTrailer(data.length),
    ]);
  const pattern = (n: number) => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = (i * 13 + 1) & 0xff;
    return b;
  };

  it("asks the engine for the archive, then writes the client its answer: the head, the length, exactly the file", async () => {
    const data = pattern(7 * 1024 * 1024 + 3);
    serving(tarOf(data));
    const r = await relayed(download(), () => {});
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect((await engineGot).toString()).toBe(getArchiveRequest("c0ffee", "/workspaces/app/f.bin"));
    const at = r.client.indexOf("\r\n\r\n") + 4;
    expect(r.client.subarray(0, at).toString()).toBe(`${head}content-length: ${data.length}\r\n\r\n`);
    expect(r.client.length - at).toBe(data.length);
    expect(hash(r.client.subarray(at))).toBe(hash(data));
  });

  it("reads a PAX header's size, and serves a file readable through the user's group or by anyone", async () => {
    const data = pattern(1234);
    const record = (k: string, v: string) => {
      const body = ` ${k}=${v}\n`;
      let n = body.length + 1;
      while (`${n}${body}`.length !== n) n++;
      return `${n}${body}`;
    };
    const pax = Buffer.from(record("size", String(data.length)) + record("gid", "27"));
    const paxHeader = tarHeader({ name: "PaxHeader", size: pax.length, mode: 0o644, uid: 0, gid: 0 });
    // Typeflag x, its checksum redone.
    paxHeader.write("x", 156, "ascii");
    paxHeader.write("        ", 148, "ascii");
    let sum = 0;
    for (const b of paxHeader) sum += b;
    paxHeader.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "ascii");
    const paxBlock = Buffer.concat([pax, Buffer.alloc((512 - (pax.length % 512)) % 512)]);
    // The header's own size field says 0: the PAX record's size is the one that counts.
    const tar = tarOf(data, { uid: 0, gid: 0, mode: 0o640 }, [paxHeader, paxBlock]);
    tar.write("00000000000\0", 1024 + 124, "ascii");
    serving(tar);
    const byGroup = await relayed(download(), () => {});
    expect(byGroup.code, byGroup.stderr).toBe(0);
    expect(hash(byGroup.client.subarray(byGroup.client.indexOf("\r\n\r\n") + 4))).toBe(hash(data));
    serving(tarOf(data, { uid: 0, gid: 0, mode: 0o644 }));
    const byAnyone = await relayed(download(), () => {});
    expect(byAnyone.code).toBe(0);
  });

  it("writes the client nothing when the file the engine read is not the user's to read (swapped after the check)", async () => {
    serving(tarOf(pattern(100), { uid: 0, gid: 0, mode: 0o600 }));
    const r = await relayed(download(), () => {});
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("f.bin: permission denied (the file the engine read is owned by 0:0, mode 600)");
    expect(r.client.length).toBe(0);
    // Root reads it.
    serving(tarOf(pattern(100), { uid: 0, gid: 0, mode: 0o600 }));
    expect((await relayed(download({ uid: 0, groups: [0] }), () => {})).code).toBe(0);
  });

  it("writes the client nothing for anything but a regular file", async () => {
    const link = tarHeader({ name: "f.bin", size: 0, mode: 0o777, uid: 1000, gid: 1000 });
    link.write("2", 156, "ascii");
    serving(Buffer.concat([link, tarTrailer(0)]));
    const r = await relayed(download(), () => {});
    expect(r).toMatchObject({ code: 1, stderr: "f.bin is not a regular file" });
    expect(r.client.length).toBe(0);
  });

  it("says what the engine said when it refuses, and writes the client nothing", async () => {
    serving(Buffer.from(JSON.stringify({ message: "Could not find the file f.bin in container c0ffee" })), {
      status: 404,
    });
    const r = await relayed(download(), () => {});
    expect(r).toMatchObject({ code: 1, stderr: "Could not find the file f.bin in container c0ffee" });
    expect(r.client.length).toBe(0);
  });

  it("ends with its own code when the archive stops after the client's answer began", async () => {
    const data = pattern(3 * 1024 * 1024);
    serving(tarOf(data), { cut: 512 + 1024 * 1024 });
    const r = await relayed(download(), () => {});
    expect(r.code).toBe(RELAY_CUT_SHORT);
    expect(r.stderr).toBe(`the engine's archive ended after ${1024 * 1024} of ${data.length} bytes`);
    const at = r.client.indexOf("\r\n\r\n") + 4;
    expect(r.client.subarray(0, at).toString()).toContain(`content-length: ${data.length}\r\n`);
    expect(r.client.length - at).toBe(1024 * 1024);
  });
});
