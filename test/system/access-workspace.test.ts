// Into a workspace through the real agent daemon, its HAProxy and real Docker, with the bundled
// `berth` CLI: a terminal driven through a pty (type, read, resize, exit code), exec exit codes,
// cp of 100 MB both ways byte for byte, a download's answer as the splice relay writes it and the
// downloads refused (unreadable, a folder), a port forward answered through curl, and a token for
// another workspace refused.
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { openSession } from "../../cli/access/client";
import { ACCESS_PROTOCOL, accessStatus, encodeAccessToken, signAccessToken } from "../../contract/access";
import { channelKeys } from "../../contract/channel/layout";
import { generateSigningKeyPair } from "../../contract/payload";
import { type WorkspaceDeclaration, workspaceKeys } from "../../contract/workspace/declaration";
import { run } from "../../lib/process";
import { AgentHarness, freePort } from "./support/agent-harness";
import { sampleConfig, sampleRepository } from "./support/devcontainer-repo";
import {
  declareWorkspace,
  removeLocalWorkspaceImages,
  removeWorkspaceObjects,
  until,
  workspaceDeclaration,
  workspaceRunning,
} from "./support/workspace-daemon";

const RUN = Math.random().toString(36).slice(2, 8);
const WS = `acc-ws-${RUN}`;
const OTHER = `acc-other-${RUN}`;
const BERTH = join(__dirname, "..", "..", "dist", "berth.js");
const h = new AgentHarness();
const tmp = mkdtempSync(join(tmpdir(), "berth-ws-access-"));
const alice = generateSigningKeyPair();
const keyFile = join(tmp, "alice.key");
writeFileSync(keyFile, `${alice.privateKey}\n`, { mode: 0o600 });
let repo = "";

const accessArgs = () => [
  "--url",
  `http://127.0.0.1:${h.proxyPort}`,
  "--operator",
  "alice",
  "--key",
  keyFile,
];
const berth = (args: string[], o: { input?: string; timeoutMs?: number } = {}) =>
  run(process.execPath, [BERTH, ...args], {
    allowFailure: true,
    timeoutMs: o.timeoutMs ?? 120_000,
    ...(o.input !== undefined ? { input: o.input } : {}),
  });

/** A trusted workspace of `main` that alice may enter, commands on. */
function declaration(id: string): WorkspaceDeclaration {
  return workspaceDeclaration(h, {
    workspaceId: id,
    repository: repo,
    repositoryName: `acme/access-${RUN}`,
    access: {
      operators: [{ name: "alice", publicKey: alice.publicKey, environments: [], workspaces: [id] }],
      commands: true,
    },
  });
}

beforeAll(async () => {
  // A busybox layer the same in every run (built once per engine, as SHARED_MARKER's toolchain):
  // this file asserts on access, not on building.
  repo = await sampleRepository(
    "berth-sample-busybox",
    {
      ".devcontainer/devcontainer.json": sampleConfig({ postCreateCommand: "true" }),
    },
    "busybox",
  );
  await h.startDaemon();
  await declareWorkspace(h, declaration(WS));
  await workspaceRunning(h, WS);
}, 900_000);

afterAll(async () => {
  await h.channel.delete(workspaceKeys.declaration(h.nodeId, WS));
  await h.cleanup([]);
  await removeWorkspaceObjects(WS, RUN);
  await removeLocalWorkspaceImages(`acme/access-${RUN}`);
  rmSync(tmp, { recursive: true, force: true });
  rmSync(repo, { recursive: true, force: true });
}, 120_000);

describe("access to a workspace through the agent", () => {
  it("shell: a terminal through a pty; type a command, read its output, exit with a code", async () => {
    // `script` gives the CLI a pty of its own, as an operator's terminal would.
    const child = spawn("script", [
      "-qefc",
      [process.execPath, BERTH, "workspace", "shell", WS, ...accessArgs()].join(" "),
      "/dev/null",
    ]);
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    const wait = async (re: RegExp) => {
      const deadline = Date.now() + 30_000;
      while (!re.test(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      return re.test(out);
    };
    child.stdin.write("echo ok-$((6*7)) $(id -un) $PWD\r");
    expect(await wait(/ok-42 dev \/workspaces\//), out).toBe(true);
    child.stdin.write("exit 3\r");
    const code = await new Promise<number | null>((r) => child.once("exit", r));
    expect(code).toBe(3);
  });

  it("shell: the terminal follows a resize", async () => {
    let out = "";
    const stdout = new PassThrough();
    stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    const s = await openSession(
      {
        url: `http://127.0.0.1:${h.proxyPort}`,
        operator: { name: "alice", privateKey: alice.privateKey },
        target: { kind: "workspace", id: WS },
        action: "shell",
        request: { cols: 80, rows: 24 },
      },
      { stdout, stderr: new PassThrough() },
    );
    s.send(Buffer.from("stty size\r"));
    const saw = async (text: string) => {
      const deadline = Date.now() + 20_000;
      while (!out.includes(text) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      return out.includes(text);
    };
    expect(await saw("24 80"), out).toBe(true);
    s.resize(132, 40);
    await new Promise((r) => setTimeout(r, 200));
    s.send(Buffer.from("stty size; exit 0\r"));
    expect(await saw("40 132"), out).toBe(true);
    expect(await s.done).toBe(0);
  });

  it("exec: exit codes and output pass through", async () => {
    const r = await berth([
      "workspace",
      "exec",
      WS,
      ...accessArgs(),
      "--",
      "sh",
      "-c",
      "pwd; id -un; echo err >&2; exit 5",
    ]);
    expect(r.exitCode).toBe(5);
    expect(r.stdout).toMatch(/^\/workspaces\/\S+\ndev\n$/);
    expect(r.stderr).toBe("err\n");
    const ok = await berth(["workspace", "exec", WS, ...accessArgs(), "--", "cat", "README.md"]);
    expect(ok).toMatchObject({ exitCode: 0, stdout: "sample\n" });
  });

  it("cp: 100 MB into the workspace and back, byte for byte", async () => {
    const src = join(tmp, "big.bin");
    const back = join(tmp, "back.bin");
    writeFileSync(src, randomBytes(100 * 1024 * 1024));
    const sha = (f: string) => createHash("sha256").update(readFileSync(f)).digest("hex");
    const writes = async () => {
      const text = await h.channel.get(channelKeys.accessStatus(h.nodeId));
      const sessions = text ? accessStatus.parse(JSON.parse(text)).sessions : [];
      return sessions.filter((x) => x.action === "file-write" && x.endedAt !== undefined).length;
    };
    const writesBefore = await writes();
    const up = await berth(["workspace", "cp", src, `${WS}:big.bin`, ...accessArgs()]);
    expect(up.exitCode, up.stderr).toBe(0);
    // Two requests, each body under Cloudflare's 100 MB cap: 90 MiB, then the last 10 MiB.
    await until(
      h,
      "the upload's two parts to be recorded",
      async () => ((await writes()) >= writesBefore + 2 ? true : undefined),
      60_000,
    );
    expect(await writes()).toBe(writesBefore + 2);
    const inside = await berth(["workspace", "exec", WS, ...accessArgs(), "--", "sha256sum", "big.bin"]);
    expect(inside.stdout.split(" ")[0]).toBe(sha(src));
    const down = await berth(["workspace", "cp", `${WS}:big.bin`, back, ...accessArgs()]);
    expect(down.exitCode, down.stderr).toBe(0);
    expect(sha(back)).toBe(sha(src));
    const missing = await berth(["workspace", "cp", `${WS}:nope.bin`, back, ...accessArgs()]);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toContain("nope.bin");
    // Written by the remote user (the splice relay as that user), with the local file's mode, and
    // only where that user may write.
    const owner = await berth([
      "workspace",
      "exec",
      WS,
      ...accessArgs(),
      "--",
      "stat",
      "-c",
      "%U %a",
      "big.bin",
    ]);
    expect(owner.stdout.trim()).toBe(`dev ${(statSync(src).mode & 0o777).toString(8)}`);
    const small = join(tmp, "small.txt");
    writeFileSync(small, "x\n");
    const refused = await berth(["workspace", "cp", small, `${WS}:/etc/berth-not-yours`, ...accessArgs()]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain("/etc is not writable");
    const absent = await berth([
      "workspace",
      "exec",
      WS,
      ...accessArgs(),
      "--",
      "test",
      "-e",
      "/etc/berth-not-yours",
    ]);
    expect(absent.exitCode).toBe(1);
  }, 300_000);

  it("cp in: a PUT whose client does not wait for 100 Continue (or a proxy that answers it itself) is read by the agent and written by the relay", async () => {
    const data = randomBytes(3 * 1024 * 1024 + 7);
    const f = join(tmp, "no-expect.bin");
    writeFileSync(f, data);
    const put = async (path: string, expect100: boolean) => {
      const t = signAccessToken({
        operator: "alice",
        privateKey: alice.privateKey,
        node: h.nodeId,
        target: { kind: "workspace", id: WS },
        action: "file-write",
        request: { path, mode: 0o600, size: data.length, protocol: ACCESS_PROTOCOL },
      });
      return await run(
        "curl",
        [
          "-sS",
          "--max-time",
          "60",
          "-H",
          `authorization: ${encodeAccessToken(t)}`,
          "-H",
          expect100 ? "Expect: 100-continue" : "Expect:",
          "-T",
          f,
          `http://127.0.0.1:${h.proxyPort}/.berth/access/v1/workspaces/${WS}/file-write`,
        ],
        { allowFailure: true },
      );
    };
    const sha = createHash("sha256").update(data).digest("hex");
    for (const [path, expect100] of [
      ["/tmp/no-expect.bin", false],
      ["/tmp/expect.bin", true],
    ] as const) {
      const r = await put(path, expect100);
      expect(JSON.parse(r.stdout), r.stderr).toMatchObject({ type: "exit", code: 0 });
      const got = await berth(["workspace", "exec", WS, ...accessArgs(), "--", "sha256sum", path]);
      expect(got.stdout.split(" ")[0]).toBe(sha);
    }
    // Refused before the body: curl is told at once, with the reason.
    const refused = await put("/etc/no-expect.bin", true);
    expect(JSON.parse(refused.stdout)).toMatchObject({ type: "exit", code: 1 });
    expect(Buffer.from(JSON.parse(refused.stdout).stderr, "base64").toString()).toContain(
      "/etc is not writable",
    );
  });

  it("cp out: one GET whose answer is the file (the splice relay's), and clear refusals", async () => {
    const container = (
      await run("docker", ["ps", "-q", "--filter", `label=berth.workspace=${WS}`])
    ).stdout.trim();
    await run("docker", [
      "exec",
      "-u",
      "0",
      container,
      "sh",
      "-c",
      "printf root-only > /tmp/root-only && chmod 600 /tmp/root-only && printf shared > /tmp/shared && chmod 644 /tmp/shared && ln -sf /tmp/shared /tmp/link",
    ]);
    // The answer itself, through HAProxy: the head and length the relay wrote, then the bytes.
    const t = signAccessToken({
      operator: "alice",
      privateKey: alice.privateKey,
      node: h.nodeId,
      target: { kind: "workspace", id: WS },
      action: "file-read",
      request: { path: "/tmp/link", protocol: ACCESS_PROTOCOL },
    });
    const raw = await run(
      "curl",
      [
        "-sS",
        "-i",
        "--max-time",
        "30",
        "-H",
        `authorization: ${encodeAccessToken(t)}`,
        `http://127.0.0.1:${h.proxyPort}/.berth/access/v1/workspaces/${WS}/file-read`,
      ],
      { allowFailure: true },
    );
    expect(raw.stdout, raw.stderr).toMatch(/^HTTP\/1\.1 200 /);
    expect(raw.stdout).toMatch(/\r\ncontent-type: application\/octet-stream\r\n/i);
    expect(raw.stdout).toMatch(/\r\ncontent-length: 6\r\n/i);
    expect(raw.stdout.endsWith("\r\n\r\nshared")).toBe(true);
    const back = join(tmp, "refused-back.bin");
    const unreadable = await berth(["workspace", "cp", `${WS}:/tmp/root-only`, back, ...accessArgs()]);
    expect(unreadable.exitCode).toBe(1);
    expect(unreadable.stderr).toContain("/tmp/root-only: permission denied (not readable by dev)");
    const folder = await berth(["workspace", "cp", `${WS}:/tmp`, back, ...accessArgs()]);
    expect(folder.exitCode).toBe(1);
    expect(folder.stderr).toContain("/tmp is a folder, not a file");
    expect(existsSync(back)).toBe(false);
    // Into a local folder: the file under its own name, as cp does.
    const folder2 = mkdtempSync(join(tmp, "into-"));
    const into = await berth(["workspace", "cp", `${WS}:/tmp/link`, folder2, ...accessArgs()]);
    expect(into.exitCode, into.stderr).toBe(0);
    expect(readFileSync(join(folder2, "link"), "utf8")).toBe("shared");
    // A file whose size says nothing is read in a session (`cat` as the remote user).
    const proc = await berth(["workspace", "cp", `${WS}:/proc/version`, back, ...accessArgs()]);
    expect(proc.exitCode, proc.stderr).toBe(0);
    expect(readFileSync(back, "utf8")).toMatch(/^Linux version /);
  });

  it("cp: the checks run in a shell kept in the workspace as its user; killed from inside, the next copies are still checked", async () => {
    const container = (
      await run("docker", ["ps", "-q", "--filter", `label=berth.workspace=${WS}`])
    ).stdout.trim();
    // The kept shells' owners, from the container's /proc (the pattern does not match itself).
    const checkers = async () =>
      (
        await run("docker", [
          "exec",
          container,
          "sh",
          "-c",
          'for f in $(grep -l "berth-[c]hecker" /proc/[0-9]*/cmdline); do d=$(dirname "$f"); echo "$(stat -c %U "$d") $(basename "$d")"; done',
        ])
      ).stdout
        .trim()
        .split("\n")
        .filter(Boolean);
    const small = join(tmp, "checked.txt");
    writeFileSync(small, "checked\n");
    const first = await berth(["workspace", "cp", small, `${WS}:/tmp/checked-1`, ...accessArgs()]);
    expect(first.exitCode, first.stderr).toBe(0);
    const kept = await checkers();
    expect(kept).toHaveLength(1);
    expect(kept[0]).toMatch(/^dev \d+$/);
    // Something in the workspace, as its user, kills the shell.
    const pid = (kept[0] as string).split(" ")[1] as string;
    const killed = await run("docker", ["exec", "-u", "dev", container, "sh", "-c", `kill -9 ${pid}`], {
      allowFailure: true,
    });
    expect(killed.exitCode, killed.stderr).toBe(0);
    const refused = await berth(["workspace", "cp", small, `${WS}:/etc/berth-after-kill`, ...accessArgs()]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain("/etc is not writable");
    const again = await berth(["workspace", "cp", small, `${WS}:/tmp/checked-2`, ...accessArgs()]);
    expect(again.exitCode, again.stderr).toBe(0);
    const refusedAgain = await berth([
      "workspace",
      "cp",
      small,
      `${WS}:/etc/berth-after-kill`,
      ...accessArgs(),
    ]);
    expect(refusedAgain.exitCode).toBe(1);
    expect(refusedAgain.stderr).toContain("/etc is not writable");
    const after = await run("docker", [
      "exec",
      container,
      "sh",
      "-c",
      "cat /tmp/checked-2; stat -c %U /tmp/checked-2; test ! -e /etc/berth-after-kill && echo absent",
    ]);
    expect(after.stdout).toBe("checked\ndev\nabsent\n");
    // A new shell serves the copies again, one, as the remote user.
    const renewed = await checkers();
    expect(renewed).toHaveLength(1);
    expect(renewed[0]).toMatch(/^dev /);
    expect(renewed[0]).not.toBe(kept[0]);
  });

  it("port: a local port forwarded to a web server started in the workspace, answered through curl", async () => {
    const started = await berth([
      "workspace",
      "exec",
      WS,
      ...accessArgs(),
      "--",
      "sh",
      "-c",
      "mkdir -p /tmp/www && echo served-from-workspace > /tmp/www/index.html && (busybox httpd -p 8000 -h /tmp/www &) ; sleep 0.2",
    ]);
    expect(started.exitCode, started.stderr).toBe(0);
    const local = await freePort();
    const fwd = spawn(process.execPath, [
      BERTH,
      "workspace",
      "port",
      WS,
      "8000",
      "--local",
      String(local),
      ...accessArgs(),
    ]);
    let err = "";
    fwd.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    const deadline = Date.now() + 15_000;
    while (!err.includes("forwarding") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const r1 = await run("curl", ["-sS", "--max-time", "10", `http://127.0.0.1:${local}/`], {
      allowFailure: true,
    });
    const r2 = await run("curl", ["-sS", "--max-time", "10", `http://127.0.0.1:${local}/index.html`], {
      allowFailure: true,
    });
    fwd.kill("SIGINT");
    expect(r1.stdout, `${r1.stderr}\n${err}`).toBe("served-from-workspace\n");
    expect(r2.stdout).toBe("served-from-workspace\n");
  });

  it("refuses a token for another workspace (WRONG_TARGET)", async () => {
    const t = signAccessToken({
      operator: "alice",
      privateKey: alice.privateKey,
      node: h.nodeId,
      target: { kind: "workspace", id: OTHER },
      action: "shell",
      request: {},
    });
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${h.proxyPort}/.berth/access/v1/workspaces/${WS}/shell`, {
        headers: { authorization: encodeAccessToken(t) },
      });
      ws.once("open", () => {
        ws.close();
        resolve({ status: 101, body: "" });
      });
      ws.once("unexpected-response", (_q, r) => {
        let body = "";
        r.on("data", (c: Buffer) => {
          body += c;
        });
        r.on("end", () => resolve({ status: r.statusCode ?? 0, body }));
      });
      ws.once("error", reject);
    });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body)).toMatchObject({ code: "WRONG_TARGET" });
  });
});
