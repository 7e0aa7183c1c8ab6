// `berth workspace cp` against a hostile workspace, through the real agent daemon, its HAProxy and
// real Docker (threat-model.md: the container is hostile). A process in the container, as the
// remote user, swaps a folder on the copy's path for a link (to /etc, to another user's home, to
// /proc/self/root/etc) in a loop while uploads and downloads run: no write lands and no byte is
// read where the remote user may not write or read. And the read check asks the kernel as that
// user: a file in a parent folder of another user's (0700) and a file a POSIX ACL denies the user
// are refused, as is a folder an ACL closes to writes. The ACLs are set with setfacl, from
// Debian's `acl`, installed in the workspace's image.
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { downloadFile, uploadFile } from "../../cli/access/client";
import { generateSigningKeyPair } from "../../contract/payload";
import { type WorkspaceDeclaration, workspaceKeys } from "../../contract/workspace/declaration";
import { run } from "../../lib/process";
import { AgentHarness } from "./support/agent-harness";
import { sampleConfig, sampleRepository } from "./support/devcontainer-repo";
import {
  declareWorkspace,
  removeLocalWorkspaceImages,
  removeWorkspaceObjects,
  workspaceDeclaration,
  workspaceRunning,
} from "./support/workspace-daemon";

const RUN = Math.random().toString(36).slice(2, 8);
const WS = `acc-atk-${RUN}`;
const h = new AgentHarness();
const tmp = mkdtempSync(join(tmpdir(), "berth-cp-attacks-"));
const alice = generateSigningKeyPair();
let repo = "";
let container = "";

function declaration(id: string): WorkspaceDeclaration {
  return workspaceDeclaration(h, {
    workspaceId: id,
    repository: repo,
    repositoryName: `acme/cp-attacks-${RUN}`,
    access: {
      operators: [{ name: "alice", publicKey: alice.publicKey, environments: [], workspaces: [id] }],
      commands: true,
    },
  });
}

const request = (action: "file-read" | "file-write", r: Record<string, unknown>) => ({
  url: `http://127.0.0.1:${h.proxyPort}`,
  operator: { name: "alice", privateKey: alice.privateKey },
  target: { kind: "workspace" as const, id: WS },
  action,
  request: r,
});

/** `berth workspace cp LOCAL WS:PATH` as the CLI does it, in this process: exit code and stderr. */
async function put(local: string, path: string, size: number) {
  const stderr = new PassThrough();
  let err = "";
  stderr.on("data", (c: Buffer) => {
    err += c.toString();
  });
  const code = await uploadFile(request("file-write", { path, mode: 0o644, size }), local, size, {
    stdout: new PassThrough(),
    stderr,
  }).catch((e: Error) => {
    err += e.message;
    return -1;
  });
  return { code, err };
}

/** `berth workspace cp WS:PATH LOCAL` as the CLI does it, in this process. */
async function get(path: string, local: string) {
  const stderr = new PassThrough();
  let err = "";
  stderr.on("data", (c: Buffer) => {
    err += c.toString();
  });
  const code = await downloadFile(request("file-read", { path }), local, {
    stdout: new PassThrough(),
    stderr,
  }).catch((e: Error) => {
    err += e.message;
    return -1;
  });
  return { code, err };
}

/** A shell command in the workspace's container as `user`. */
const inside = (user: string, script: string) =>
  run("docker", ["exec", "-u", user, container, "sh", "-c", script], { allowFailure: true });

/**
 * The attacker: as the remote user, swaps `folder` between a real folder and links to each of
 * `links`, as fast as it can (the folder stays ~10 ms a round, so some copies find it), until
 * `stop` appears or its bound of rounds is reached.
 */
async function startSwapping(folder: string, links: string[], stop: string) {
  const round = links.map((l) => `ln -s ${l} "$d"; rm -f "$d";`).join(" ");
  await run("docker", [
    "exec",
    "-d",
    "-u",
    "dev",
    container,
    "sh",
    "-c",
    `d=${folder}; i=0; while [ ! -e ${stop} ] && [ $i -lt 20000 ]; do mv "$d" "$d.real"; ${round} mv "$d.real" "$d"; sleep 0.01; i=$((i+1)); done; touch ${stop}.done`,
  ]);
}

async function stopSwapping(stop: string) {
  await inside("dev", `touch ${stop}`);
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && (await inside("dev", `test -e ${stop}.done`)).exitCode !== 0)
    await new Promise((r) => setTimeout(r, 100));
}

beforeAll(async () => {
  repo = await sampleRepository(
    "berth-sample-busybox-acl",
    { ".devcontainer/devcontainer.json": sampleConfig({ postCreateCommand: "true" }) },
    "busybox acl",
  );
  await h.startDaemon();
  await declareWorkspace(h, declaration(WS));
  await workspaceRunning(h, WS);
  container = (await run("docker", ["ps", "-q", "--filter", `label=berth.workspace=${WS}`])).stdout.trim();
  // Another user with a home of their own (0700) holding a file anyone could read were it not for
  // that folder; root's files; a file and a folder an ACL closes to the remote user.
  const setup = await inside(
    "0",
    [
      "useradd --create-home --uid 1001 other",
      "chmod 700 /home/other",
      "printf other-secret > /home/other/f && chmod 644 /home/other/f && chown other /home/other/f",
      "printf acl-secret > /tmp/acl-denied && chmod 644 /tmp/acl-denied && setfacl -m u:dev:--- /tmp/acl-denied",
      "mkdir -m 777 /tmp/acl-no-write && setfacl -m u:dev:r-x /tmp/acl-no-write",
    ].join(" && "),
  );
  expect(setup.exitCode, setup.stderr).toBe(0);
}, 900_000);

afterAll(async () => {
  await h.channel.delete(workspaceKeys.declaration(h.nodeId, WS));
  await h.cleanup([]);
  await removeWorkspaceObjects(WS, RUN);
  await removeLocalWorkspaceImages(`acme/cp-attacks-${RUN}`);
  rmSync(tmp, { recursive: true, force: true });
  rmSync(repo, { recursive: true, force: true });
}, 120_000);

describe("cp into and out of a hostile workspace", () => {
  it("uploads while the remote user swaps a folder on the path for links: nothing lands outside that folder", async () => {
    const marker = `berth-race-${RUN}`;
    const setup = await inside("dev", "mkdir -p /tmp/race/d");
    expect(setup.exitCode, setup.stderr).toBe(0);
    await startSwapping(
      "/tmp/race/d",
      ["/etc", "/home/other", "/proc/self/root/etc", "/proc/1/cwd"],
      "/tmp/race/stop",
    );
    const local = join(tmp, "up.txt");
    writeFileSync(local, `${marker}\n`);
    const outcomes: { code: number; err: string }[] = [];
    try {
      for (let i = 0; i < 60; i++)
        outcomes.push(await put(local, `/tmp/race/d/${marker}-${i}`, marker.length + 1));
    } finally {
      await stopSwapping("/tmp/race/stop");
    }
    // Nowhere but the folder itself: not root's /etc, not the other user's home, not the node's /etc.
    const found = await inside(
      "0",
      `find / -xdev -name '${marker}-*' 2>/dev/null; find /home /tmp -name '${marker}-*'`,
    );
    const places = new Set(
      found.stdout
        .trim()
        .split("\n")
        .filter(Boolean)
        .map((p) => p.replace(/\/[^/]+$/, "")),
    );
    expect([...places].filter((p) => p !== "/tmp/race/d" && p !== "/tmp/race/d.real")).toEqual([]);
    expect(readdirSync("/etc").filter((f) => f.startsWith(marker))).toEqual([]);
    const landed = outcomes.flatMap((o, i) => (o.code === 0 ? [i] : []));
    // Uploads went through while it swapped (the folder was there at times), and each refusal
    // says why rather than failing blindly.
    expect(landed.length, JSON.stringify(outcomes.slice(0, 5))).toBeGreaterThan(0);
    for (const o of outcomes.filter((x) => x.code !== 0)) expect(o.err).toMatch(/\/tmp\/race\/d/);
    // Every upload that said it landed did, whole, as the remote user.
    const owners = await inside(
      "0",
      `cd /tmp/race && for i in ${landed.join(" ")}; do f=$(ls -d d/${marker}-$i d.real/${marker}-$i 2>/dev/null | head -n1); echo "$(stat -c %U "$f") $(cat "$f")"; done`,
    );
    expect(owners.stdout.trim().split("\n")).toEqual(landed.map(() => `dev ${marker}`));
  }, 300_000);

  it("downloads while the remote user swaps a folder on the path for a link to another user's home: no byte of it comes", async () => {
    const setup = await inside("dev", "mkdir -p /tmp/race2/d && printf dev-own > /tmp/race2/d/f");
    expect(setup.exitCode, setup.stderr).toBe(0);
    await startSwapping("/tmp/race2/d", ["/home/other"], "/tmp/race2/stop");
    const outcomes: { code: number; err: string; got?: string }[] = [];
    try {
      for (let i = 0; i < 60; i++) {
        const local = join(tmp, `down-${i}`);
        const o = await get("/tmp/race2/d/f", local);
        outcomes.push({ ...o, ...(existsSync(local) ? { got: readFileSync(local, "utf8") } : {}) });
      }
    } finally {
      await stopSwapping("/tmp/race2/stop");
    }
    expect(outcomes.filter((o) => o.code === 0).length, JSON.stringify(outcomes.slice(0, 5))).toBeGreaterThan(
      0,
    );
    expect(outcomes.filter((o) => o.got?.includes("other-secret"))).toEqual([]);
    for (const o of outcomes.filter((x) => x.code === 0)) expect(o.got).toBe("dev-own");
  }, 300_000);

  it("refuses a file in a parent folder of another user's, and one an ACL denies the remote user", async () => {
    const back = join(tmp, "refused");
    const parent = await get("/home/other/f", back);
    expect(parent.code).toBe(1);
    expect(parent.err).toContain("/home/other/f");
    const acl = await get("/tmp/acl-denied", back);
    expect(acl.code).toBe(1);
    expect(acl.err).toContain("/tmp/acl-denied: permission denied");
    expect(existsSync(back)).toBe(false);
    // Root, the file's owner, reads it as it is: the ACL, not the file, is what refused.
    expect((await inside("0", "cat /tmp/acl-denied")).stdout).toBe("acl-secret");
  });

  it("refuses to write into a folder an ACL closes to the remote user, though its mode says anyone may", async () => {
    const local = join(tmp, "acl-up.txt");
    writeFileSync(local, randomBytes(100));
    const r = await put(local, "/tmp/acl-no-write/x", 100);
    expect(r.code).toBe(1);
    expect(r.err).toContain("/tmp/acl-no-write");
    expect((await inside("0", "ls -A /tmp/acl-no-write")).stdout).toBe("");
  });
});
