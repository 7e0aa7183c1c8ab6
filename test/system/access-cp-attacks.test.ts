// `berth workspace cp` against a hostile workspace, through the real agent daemon, its HAProxy and
// real Docker (threat-model.md: the container is hostile). A process in the container, as the
// remote user, swaps a folder on the copy's path for a link (to /etc, to another user's home, to
// /proc/self/root/etc) in a loop while uploads and downloads run: no write lands and no byte is
// read where the remote user may not write or read. And the read check asks the kernel as that
// user: a file in a parent folder of another user's (0700) and a file a POSIX ACL denies the user
// are refused, as is a folder an ACL closes to writes. The ACLs are set with setfacl, from
// Debian's `acl`, installed in the workspace's image. An upload in parts that does not finish (its
// client gone after a part, its connection lost mid-part, its agent killed) leaves no
// `.berth-upload-<id>` file; the agent's clean follows no link (a folder swapped for one, a link
// named like a leftover) and removes no file of root's named like one, though the remote user
// could unlink it there.
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { downloadFile, nodeInfoOf, putPart, uploadFile } from "../../cli/access/client";
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
const ABANDON_SECONDS = 5;
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

/**
 * One part of an upload, as the CLI sends it (`length` bytes of `local` from `offset`): the exit
 * code and stderr the agent answered, or the error when the request broke.
 */
async function sendPart(
  local: string,
  path: string,
  upload: string,
  offset: number,
  length: number,
  total: number,
) {
  const r = request("file-write", { path, mode: 0o644, size: length, offset, total, upload });
  try {
    const res = await putPart(r, await nodeInfoOf(r.url), r.request, local, offset, length);
    const body = JSON.parse(res.text) as { code?: number; stderr?: string };
    return { code: body.code, err: Buffer.from(body.stderr ?? "", "base64").toString() };
  } catch (e) {
    return { code: -1, err: (e as Error).message };
  }
}

/** The names in a folder of the container that are an upload's files. */
const leftovers = async (folder: string) =>
  (await inside("0", `ls -A ${folder}`)).stdout.split("\n").filter((f) => f.startsWith(".berth-upload-"));

/** Waits (bounded) until `folder` holds no upload's file; resolves with what is left. */
async function leftoversGone(folder: string, seconds: number) {
  const deadline = Date.now() + seconds * 1000;
  let left = await leftovers(folder);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    left = await leftovers(folder);
  }
  return left;
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
  // An upload with no part for 5 s is dropped (the default is 300 s).
  await h.startDaemon({ uploadAbandonSeconds: ABANDON_SECONDS });
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

describe("an upload in parts that does not finish leaves no file behind", () => {
  const P = 1000;
  let local = "";
  beforeAll(() => {
    local = join(tmp, "parts.bin");
    writeFileSync(local, randomBytes(3 * P));
  });

  it("a client gone after its first part: the file beside the target goes, and its late parts never make a file", async () => {
    expect((await inside("dev", "mkdir -p /tmp/cut")).exitCode).toBe(0);
    const id = randomBytes(16).toString("hex");
    const first = await sendPart(local, "/tmp/cut/f.bin", id, 0, P, 3 * P);
    expect(first).toEqual({ code: 0, err: "" });
    // The upload's file is there while the upload may go on...
    expect(await leftovers("/tmp/cut")).toEqual([`.berth-upload-${id}`]);
    // ...and gone once no part came for the bound.
    expect(await leftoversGone("/tmp/cut", ABANDON_SECONDS + 20)).toEqual([]);
    // The client comes back: its next part lands in a new file, but the last is refused (the
    // bytes before it are not all there), nothing is written, and that file goes too.
    expect((await sendPart(local, "/tmp/cut/f.bin", id, P, P, 3 * P)).code).toBe(0);
    const last = await sendPart(local, "/tmp/cut/f.bin", id, 2 * P, P, 3 * P);
    expect(last.code).toBe(1);
    expect(last.err).toContain("/tmp/cut/f.bin: the upload's earlier parts did not all land on this node");
    expect(await leftoversGone("/tmp/cut", ABANDON_SECONDS + 20)).toEqual([]);
    expect((await inside("0", "ls -A /tmp/cut")).stdout).toBe("");
  }, 120_000);

  it("a connection lost mid-part: nothing is left", async () => {
    expect((await inside("dev", "mkdir -p /tmp/lost")).exitCode).toBe(0);
    const id = randomBytes(16).toString("hex");
    expect((await sendPart(local, "/tmp/lost/f.bin", id, 0, P, 3 * P)).code).toBe(0);
    // The second part's request ends after 600 of its 1000 bytes (the local file is shorter).
    const short = join(tmp, "short.bin");
    writeFileSync(short, randomBytes(P + 600));
    const cut = await sendPart(short, "/tmp/lost/f.bin", id, P, P, 3 * P);
    expect(cut.code).not.toBe(0);
    expect(await leftoversGone("/tmp/lost", ABANDON_SECONDS + 20)).toEqual([]);
    expect((await inside("0", "ls -A /tmp/lost")).stdout).toBe("");
  }, 120_000);

  it("a folder swapped for a link before the file is removed: nothing is removed where the link leads", async () => {
    const id = randomBytes(16).toString("hex");
    const name = `.berth-upload-${id}`;
    expect((await inside("dev", "mkdir -p /tmp/swap/d /tmp/elsewhere")).exitCode).toBe(0);
    expect((await sendPart(local, "/tmp/swap/d/f.bin", id, 0, P, 3 * P)).code).toBe(0);
    // The remote user moves the folder away and puts a link in its place, to a folder holding a
    // file of the same name (a user's own file, which the agent must not reach through the link).
    const swap = await inside(
      "dev",
      `mv /tmp/swap/d /tmp/swap/d.real && printf mine > /tmp/elsewhere/${name} && ln -s /tmp/elsewhere /tmp/swap/d`,
    );
    expect(swap.exitCode, swap.stderr).toBe(0);
    // Once the bound passed, the agent tried and was refused at the link.
    const deadline = Date.now() + (ABANDON_SECONDS + 20) * 1000;
    while (Date.now() < deadline && !h.daemonLog().includes("could not remove an unfinished upload's file"))
      await new Promise((r) => setTimeout(r, 250));
    expect(h.daemonLog()).toContain("a folder on its path is a link or not a folder");
    expect((await inside("0", `cat /tmp/elsewhere/${name}`)).stdout).toBe("mine");
    // The file stays in the folder the user moved (theirs to remove), and the record is kept.
    expect(await leftovers("/tmp/swap/d.real")).toEqual([name]);
  }, 120_000);

  it("an agent killed mid-upload: the next one removes the file, follows no planted link and removes no file not the user's", async () => {
    const ids = Array.from({ length: 5 }, () => randomBytes(16).toString("hex"));
    const [upload, link, stale, roots, fresh] = ids.map((i) => `.berth-upload-${i}`) as [
      string,
      string,
      string,
      string,
      string,
    ];
    // In the remote user's own folder (where they could unlink anything): a link named like a
    // leftover to a file of theirs elsewhere, their own stale leftover, root's file named like one
    // (two hours old), a leftover still being written, and names near the pattern.
    const old = 'touch -h -d "2 hours ago"';
    const mine = await inside(
      "dev",
      [
        "mkdir -p /tmp/killed /tmp/kept && printf keep > /tmp/kept/mine && cd /tmp/killed",
        `ln -s /tmp/kept/mine ${link} && ${old} ${link}`,
        `printf x > ${stale} && ${old} ${stale} && printf x > ${stale}.bak && ${old} ${stale}.bak`,
        `printf x > ${fresh}`,
      ].join(" && "),
    );
    expect(mine.exitCode, mine.stderr).toBe(0);
    const setup = await inside("0", `printf root > /tmp/killed/${roots} && ${old} /tmp/killed/${roots}`);
    expect(setup.exitCode, setup.stderr).toBe(0);
    expect((await sendPart(local, "/tmp/killed/f.bin", ids[0] as string, 0, P, 3 * P)).code).toBe(0);
    // Killed before its bound passed (5 s): this agent will never drop the upload.
    await h.restartDaemon("SIGKILL");
    const deadline = Date.now() + 30_000;
    let left = await leftovers("/tmp/killed");
    while (left.includes(upload) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      left = await leftovers("/tmp/killed");
    }
    expect(left.sort()).toEqual([link, roots, fresh, `${stale}.bak`].sort());
    const after = await inside(
      "0",
      `cat /tmp/kept/mine; readlink /tmp/killed/${link}; stat -c %U /tmp/killed/${roots}; cat /tmp/killed/${roots}`,
    );
    expect(after.stdout).toBe("keep/tmp/kept/mine\nroot\nroot");
  }, 120_000);
});
