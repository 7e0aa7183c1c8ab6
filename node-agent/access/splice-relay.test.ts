// The splice relay as the agent starts it (the node's python3, its socket as stdin, a container's
// root folder as its descriptor 3), over a folder standing in for that root and a user who is not
// root (nobody, 65534): uploads (the exact bytes, in parts, short ones; a folder on the path that
// is a link, a folder the user may not write), downloads (the exact answer; a link, a parent
// folder of another user, a pipe). The real agent and container are in
// test/system/access-workspace.test.ts and access-cp-attacks.test.ts.
import { createHash } from "node:crypto";
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../../lib/process";
import {
  findSplicePython,
  NODE_PYTHON,
  RELAY_CUT_SHORT,
  type SpliceClean,
  type SpliceDownload,
  type SpliceUpload,
  startSpliceRelay,
} from "./splice-relay";

const dir = mkdtempSync(join(tmpdir(), "berth-splice-"));
const clientSocket = join(dir, "client.sock");
/** The container's root, as the relay sees it. */
const root = join(dir, "root");
const NOBODY = 65534;
const user = { user: "nobody", uid: NOBODY, gid: NOBODY, groups: [NOBODY] };

let accepted: (s: Socket) => void = () => {};
const front: Server = createServer((s) => accepted(s));

beforeAll(async () => {
  await new Promise<void>((r) => front.listen(clientSocket, r));
  mkdirSync(join(root, "work"), { recursive: true });
  chmodSync(root, 0o755);
  chownSync(join(root, "work"), NOBODY, NOBODY);
  // Root's own folder and a folder of another user the user may not enter.
  mkdirSync(join(root, "etc"), { mode: 0o755 });
  mkdirSync(join(root, "home", "other"), { recursive: true, mode: 0o755 });
  chmodSync(join(root, "home", "other"), 0o700);
  chownSync(join(root, "home", "other"), 1234, 1234);
  writeFileSync(join(root, "home", "other", "secret"), "other's", { mode: 0o644 });
});
afterAll(() => {
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
  const fd = openSync(root, "r");
  const relay = startSpliceRelay(python, ours, fd, spec, new AbortController().signal);
  closeSync(fd);
  use(client);
  const r = await relay.outcome;
  // The agent lets go of its own descriptor once the child is done (as http-download.ts does).
  ours.destroy();
  await clientClosed;
  return { ...r, client: Buffer.concat(received) };
}

const hash = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const pattern = (n: number, k = 7) => {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * k + 1) & 0xff;
  return b;
};
const sendAll = (data: Buffer) => (c: Socket) => {
  for (let i = 0; i < data.length; i += 100_000) c.write(data.subarray(i, i + 100_000));
};
/** What is left in a folder of the root besides `keep` (no upload's file stays behind). */
const leftIn = (folder: string) =>
  readdirSync(join(root, folder)).filter((f) => f.startsWith(".berth-upload-"));

describe("the splice relay's Python", () => {
  it("is there on this node, with os.splice", async () => {
    expect(await findSplicePython()).toBe(NODE_PYTHON);
    expect(await findSplicePython(join(dir, "no-python"))).toBeUndefined();
  });
});

describe("an upload through the splice relay", () => {
  const upload = (size: number, over: Partial<SpliceUpload> = {}): SpliceUpload => ({
    mode: "upload",
    ...user,
    dir: "/work",
    name: "f.bin",
    partial: ".berth-upload-0123456789abcdef0123456789abcdef",
    target: "/work/f.bin",
    size,
    offset: 0,
    total: size,
    fileMode: 0o640,
    idleSeconds: 30,
    ...over,
  });

  it("writes exactly the declared bytes as the user, with the mode asked, and nothing to the client", async () => {
    const data = pattern(5 * 1024 * 1024 + 5);
    const r = await relayed(upload(data.length), sendAll(data));
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(r.client.length).toBe(0);
    const f = join(root, "work", "f.bin");
    expect(hash(readFileSync(f))).toBe(hash(data));
    const st = statSync(f);
    expect([st.uid, st.gid, st.mode & 0o777]).toEqual([NOBODY, NOBODY, 0o640]);
    expect(leftIn("work")).toEqual([]);
  });

  it("takes a file in parts, in any order but the last, and makes it whole only at the last", async () => {
    const data = pattern(3 * 1000 + 17, 11);
    const id = "ab".repeat(16);
    const part = (offset: number, size: number) =>
      upload(size, { name: "parts.bin", partial: `.berth-upload-${id}`, offset, total: data.length });
    const send = async (offset: number, size: number) =>
      await relayed(part(offset, size), sendAll(data.subarray(offset, offset + size)));
    expect((await send(0, 1000)).code).toBe(0);
    expect(existsSync(join(root, "work", "parts.bin"))).toBe(false);
    // The last part before the others landed is refused, and the upload with it.
    const early = await send(2000, data.length - 2000);
    expect(early).toMatchObject({
      code: 1,
      stderr: "/work/f.bin: the upload's earlier parts hold 1000 bytes, not 2000",
    });
    expect(leftIn("work")).toEqual([]);
    // Again: the second part, the first, then the last.
    expect((await send(1000, 1000)).code).toBe(0);
    expect((await send(0, 1000)).code).toBe(0);
    expect((await send(2000, data.length - 2000)).code).toBe(0);
    expect(hash(readFileSync(join(root, "work", "parts.bin")))).toBe(hash(data));
    expect(leftIn("work")).toEqual([]);
  });

  it("refuses an upload's file that is not the user's own (a name planted by someone else, a link)", async () => {
    const planted = ".berth-upload-cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd";
    // Root's, though anyone may write it: not the user's own.
    writeFileSync(join(root, "work", planted), "root's");
    chmodSync(join(root, "work", planted), 0o666);
    const r = await relayed(
      upload(3, { partial: planted, offset: 0, total: 6 }),
      sendAll(Buffer.from("abc")),
    );
    expect(r).toMatchObject({ code: 1, stderr: `/work/f.bin: ${planted} is not this upload's own file` });
    rmSync(join(root, "work", planted), { force: true });
    symlinkSync("/etc/passwd", join(root, "work", planted));
    const link = await relayed(
      upload(3, { partial: planted, offset: 0, total: 6 }),
      sendAll(Buffer.from("abc")),
    );
    expect(link.code).toBe(1);
    expect(readFileSync("/etc/passwd", "utf8")).not.toContain("abc\n");
    rmSync(join(root, "work", planted), { force: true });
  });

  it("leaves the target untouched when the client stops short", async () => {
    writeFileSync(join(root, "work", "kept.txt"), "before");
    chownSync(join(root, "work", "kept.txt"), NOBODY, NOBODY);
    const r = await relayed(upload(1000, { name: "kept.txt" }), (c) => c.end(Buffer.alloc(600, 1)));
    expect(r).toMatchObject({ code: 1, stderr: "the upload ended after 600 of 1000 bytes" });
    expect(readFileSync(join(root, "work", "kept.txt"), "utf8")).toBe("before");
    expect(leftIn("work")).toEqual([]);
  });

  it("gives up on a client that goes quiet", async () => {
    const r = await relayed(upload(1000, { idleSeconds: 1 }), (c) => c.write(Buffer.alloc(10, 1)));
    expect(r).toMatchObject({ code: 1, stderr: "no byte of the file came for 1 s" });
  });

  it("follows no link on the folder's path: a folder swapped for a link to /etc stops the copy", async () => {
    mkdirSync(join(root, "work", "sub"), { recursive: true });
    chownSync(join(root, "work", "sub"), NOBODY, NOBODY);
    // The user may write root's /etc here (for this test), so only the link stops the write.
    chmodSync(join(root, "etc"), 0o777);
    try {
      rmSync(join(root, "work", "sub"), { recursive: true });
      symlinkSync("/etc", join(root, "work", "sub"));
      const r = await relayed(upload(3, { dir: "/work/sub", name: "passwd-x" }), sendAll(Buffer.from("abc")));
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("a folder on its path is a link or not a folder");
      expect(existsSync(join(root, "etc", "passwd-x"))).toBe(false);
      expect(existsSync("/etc/passwd-x")).toBe(false);
    } finally {
      chmodSync(join(root, "etc"), 0o755);
    }
  });

  it("writes only where the kernel lets the user write, and never into a folder", async () => {
    const denied = await relayed(
      upload(3, { dir: "/etc", name: "x", target: "/etc/x" }),
      sendAll(Buffer.from("abc")),
    );
    expect(denied).toMatchObject({ code: 1, stderr: "/etc/x: permission denied (for nobody)" });
    expect(existsSync(join(root, "etc", "x"))).toBe(false);
    mkdirSync(join(root, "work", "a-folder"), { recursive: true });
    const folder = await relayed(
      upload(3, { name: "a-folder", target: "/work/a-folder" }),
      sendAll(Buffer.from("abc")),
    );
    expect(folder).toMatchObject({ code: 1, stderr: "/work/a-folder is a folder" });
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
  const download = (path: string, over: Partial<SpliceDownload> = {}): SpliceDownload => ({
    mode: "download",
    ...user,
    path,
    shown: path,
    clientHead: Buffer.from(head).toString("base64"),
    idleSeconds: 30,
    ...over,
  });

  it("writes the client its answer: the head, the open file's length, exactly the file", async () => {
    const data = pattern(7 * 1024 * 1024 + 3, 13);
    writeFileSync(join(root, "work", "d.bin"), data, { mode: 0o600 });
    chownSync(join(root, "work", "d.bin"), NOBODY, NOBODY);
    const r = await relayed(download("/work/d.bin"), () => {});
    expect(r).toMatchObject({ code: 0, stderr: "" });
    const at = r.client.indexOf("\r\n\r\n") + 4;
    expect(r.client.subarray(0, at).toString()).toBe(`${head}content-length: ${data.length}\r\n\r\n`);
    expect(hash(r.client.subarray(at))).toBe(hash(data));
  });

  it("writes the client nothing for a file the user may not open: its mode, or a parent folder of another user", async () => {
    writeFileSync(join(root, "etc", "shadow"), "root's", { mode: 0o600 });
    const mode = await relayed(download("/etc/shadow"), () => {});
    expect(mode).toMatchObject({ code: 1, stderr: "/etc/shadow: permission denied (for nobody)" });
    expect(mode.client.length).toBe(0);
    // 0644, but in a folder of another user's that is 0700.
    const parent = await relayed(download("/home/other/secret"), () => {});
    expect(parent).toMatchObject({ code: 1, stderr: "/home/other/secret: permission denied (for nobody)" });
    expect(parent.client.length).toBe(0);
  });

  it("follows no link: a file or a folder swapped for a link is not read", async () => {
    writeFileSync(join(root, "etc", "world-readable"), "node's own", { mode: 0o644 });
    symlinkSync("/etc/hostname", join(root, "work", "to-host"));
    symlinkSync("/etc", join(root, "work", "etc-link"));
    const file = await relayed(download("/work/to-host"), () => {});
    expect(file.code).toBe(1);
    expect(file.client.length).toBe(0);
    const folder = await relayed(download("/work/etc-link/world-readable"), () => {});
    expect(folder.code).toBe(1);
    expect(folder.stderr).toContain("a folder on its path is a link or not a folder");
    expect(folder.client.length).toBe(0);
  });

  it("writes the client nothing for anything but a regular file", async () => {
    await run("mkfifo", [join(root, "work", "fifo")]);
    chmodSync(join(root, "work", "fifo"), 0o666);
    const r = await relayed(download("/work/fifo"), () => {});
    expect(r).toMatchObject({ code: 1, stderr: "/work/fifo is not a regular file" });
    expect(r.client.length).toBe(0);
  });

  it("ends with its own code when the file is shorter than it was when opened", async () => {
    // /proc's files say 0: a file that grows is cut at its size; one that shrinks ends early. A
    // file truncated under the relay: the client has the head and fewer bytes than its length.
    const f = join(root, "work", "shrinks.bin");
    writeFileSync(f, pattern(64 * 1024 * 1024));
    chownSync(f, NOBODY, NOBODY);
    const r = await relayed(download("/work/shrinks.bin"), (c) => {
      c.pause();
      setTimeout(() => {
        writeFileSync(f, "");
        c.resume();
      }, 300);
    });
    expect(r.code).toBe(RELAY_CUT_SHORT);
    expect(r.stderr).toMatch(/^the file ended after \d+ of 67108864 bytes$/);
  });
});

describe("an upload's leftovers removed through the splice relay", () => {
  const id = (c: string) => `.berth-upload-${c.repeat(32)}`;
  const clean = async (over: Partial<SpliceClean>) => {
    const fd = openSync(root, "r");
    const relay = startSpliceRelay(
      NODE_PYTHON,
      "ignore",
      fd,
      { mode: "clean", ...user, dir: "/work/left", names: [], before: 0, ...over },
      new AbortController().signal,
    );
    closeSync(fd);
    return await relay.outcome;
  };
  const old = new Date(Date.now() - 3 * 3600_000);
  const place = (name: string, o: { owner?: number; old?: boolean; at?: string } = {}) => {
    const f = join(root, o.at ?? "work/left", name);
    writeFileSync(f, "x");
    chownSync(f, o.owner ?? NOBODY, o.owner ?? NOBODY);
    if (o.old !== false) utimesSync(f, old, old);
    return f;
  };

  beforeAll(() => {
    mkdirSync(join(root, "work", "left"), { recursive: true });
    chownSync(join(root, "work", "left"), NOBODY, NOBODY);
    mkdirSync(join(root, "work", "elsewhere"), { recursive: true });
    chownSync(join(root, "work", "elsewhere"), NOBODY, NOBODY);
  });

  it("removes the named upload's file, and with `before` only the folder's stale leftovers of the user's own", async () => {
    const named = place(id("1"), { old: false });
    const stale = place(id("2"));
    const fresh = place(id("3"), { old: false });
    // Root's and another user's, in the user's own folder (which the user could unlink): kept.
    const roots = place(id("4"), { owner: 0 });
    const others = place(id("5"), { owner: 1234 });
    // Not exactly an upload's name.
    const near = [
      place(`${id("6")}x`),
      place(".berth-upload-ABCDEF0123456789ABCDEF0123456789"),
      place("f.bin"),
    ];
    // A link named like a leftover to a file of the user's elsewhere: neither followed nor removed.
    const target = place("keep.txt", { at: "work/elsewhere" });
    symlinkSync(target, join(root, "work", "left", id("7")));
    // A second name of a file (a hard link) named like a leftover: kept.
    linkSync(place("linked.txt", { at: "work/elsewhere" }), join(root, "work", "left", id("8")));
    const before = Math.floor(Date.now() / 1000) - 3600;
    const r = await clean({ names: [id("1")], before });
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(r.stdout.trim().split("\n").sort()).toEqual([id("1"), id("2")]);
    for (const f of [named, stale]) expect(existsSync(f)).toBe(false);
    for (const f of [fresh, roots, others, ...near, target]) expect(existsSync(f)).toBe(true);
    expect(lstatSync(join(root, "work", "left", id("7"))).isSymbolicLink()).toBe(true);
    expect(existsSync(join(root, "work", "left", id("8")))).toBe(true);
    // Without `before`, only the names given; a name given that is not an upload's is not touched.
    const r2 = await clean({ names: [id("3"), "f.bin"] });
    expect(r2.stdout).toBe(`${id("3")}\n`);
    expect(existsSync(join(root, "work", "left", "f.bin"))).toBe(true);
  });

  it("follows no link on the folder's path: a folder swapped for a link removes nothing where it leads", async () => {
    const kept = place(id("9"), { at: "work/elsewhere" });
    symlinkSync(join(root, "work", "elsewhere"), join(root, "work", "swapped"));
    const r = await clean({ dir: "/work/swapped", names: [id("9")], before: Math.floor(Date.now() / 1000) });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("a folder on its path is a link or not a folder");
    expect(existsSync(kept)).toBe(true);
  });
});
