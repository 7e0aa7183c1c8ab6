// A workspace's snapshots by hand, through the access path (a signed operator token, the grant
// checked, the session recorded): the real agent daemon and its HAProxy, real Docker, the bundled
// `berth` CLI, real restic and an S3 server (versitygw) on 127.0.0.1. The workspace stops idle and
// is backed up (snapshot A: v1 in its tree and home); an access wakes it and writes v2; `berth
// workspace snapshots` lists A; `berth workspace restore` of A while it runs backs the v2 state up
// first (snapshot B, named in the output), puts v1 back and starts the same container again; a
// restore of B brings v2 back. An unknown snapshot changes nothing; an operator without the grant
// is refused both commands.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accessStatus } from "../../contract/access/status";
import { channelKeys } from "../../contract/channel/layout";
import { generateSigningKeyPair } from "../../contract/payload";
import {
  sealBackupCredentials,
  type WorkspaceDeclaration,
  workspaceKeys,
} from "../../contract/workspace/declaration";
import { run } from "../../lib/process";
import { AgentHarness } from "./support/agent-harness";
import { BASE_IMAGE, commit, git } from "./support/devcontainer-repo";
import { Versitygw } from "./support/versitygw";
import {
  declareWorkspace,
  removeLocalWorkspaceImages,
  removeWorkspaceObjects,
  until as untilShared,
  workspaceStatusOf,
} from "./support/workspace-daemon";

const RUN = Math.random().toString(36).slice(2, 8);
const WS = `snap-${RUN}`;
// Long enough for an access, then a restore, to begin before the workspace sleeps again.
const IDLE_SECONDS = 20;
const BERTH = join(__dirname, "..", "..", "dist", "berth.js");
const gw = new Versitygw();
const h = new AgentHarness();
const tmp = mkdtempSync(join(tmpdir(), "berth-ws-snap-"));
const repo = join(tmp, "repo");
const password = `restic-pw-${Math.random().toString(36).slice(2)}`;
const alice = generateSigningKeyPair();
const bob = generateSigningKeyPair();
const keyOf = (name: string, privateKey: string) => {
  const f = join(tmp, `${name}.key`);
  writeFileSync(f, `${privateKey}\n`, { mode: 0o600 });
  return f;
};
const keys = { alice: keyOf("alice", alice.privateKey), bob: keyOf("bob", bob.privateKey) };

const berth = (args: string[], operator: "alice" | "bob" = "alice") => {
  const access = [
    "--url",
    `http://127.0.0.1:${h.proxyPort}`,
    "--operator",
    operator,
    "--key",
    keys[operator],
  ];
  const at = args.indexOf("--");
  const argv = at < 0 ? [...args, ...access] : [...args.slice(0, at), ...access, ...args.slice(at)];
  return run(process.execPath, [BERTH, ...argv], { allowFailure: true, timeoutMs: 300_000 });
};

function declaration(): WorkspaceDeclaration {
  const d: WorkspaceDeclaration = {
    formatVersion: 1,
    workspaceId: WS,
    nodeId: h.nodeId,
    generation: 1,
    repository: repo,
    repositoryName: `acme/snap-${RUN}`,
    branch: "main",
    defaultBranch: "main",
    trusted: true,
    allowInitializeCommand: false,
    defaultImage: BASE_IMAGE,
    lifecycle: { idleTimeoutSeconds: IDLE_SECONDS, followSeconds: 0 },
    access: {
      operators: [
        { name: "alice", publicKey: alice.publicKey, environments: [], workspaces: [WS] },
        // Bob holds a valid key, granted another workspace only.
        { name: "bob", publicKey: bob.publicKey, environments: ["*"], workspaces: [`other-${RUN}`] },
      ],
      commands: true,
    },
  };
  return {
    ...d,
    backup: {
      repository: `s3:${gw.endpoint}/berth-backups/workspaces/${WS}`,
      region: "us-east-1",
      schedule: "0 3 * * *",
      retention: { last: 10 },
      pruneSchedule: "30 4 * * *",
      checkSchedule: "0 5 * * 0",
      restoreOnFirstStart: true,
      credentials: sealBackupCredentials(
        d,
        { password, accessKeyId: gw.accessKey, secretAccessKey: gw.secretKey },
        h.nodePublicKey,
      ),
    },
  };
}

const status = () => workspaceStatusOf(h, WS);

const until = <T>(what: string, fn: () => Promise<T | undefined>, ms: number) => untilShared(h, what, fn, ms);

/** The snapshot ids `berth workspace snapshots` lists, newest first. */
async function listed(): Promise<{ ids: string[]; stdout: string }> {
  const out = await berth(["workspace", "snapshots", WS]);
  expect(out.exitCode, out.stderr + h.daemonLog()).toBe(0);
  const lines = out.stdout.split("\n").filter(Boolean);
  for (const l of lines)
    expect(l).toMatch(/^[0-9a-f]{8}\t\S+\ttree=[0-9a-f]{8} home=[0-9a-f]{8} meta=[0-9a-f]{8}$/);
  return { ids: lines.map((l) => l.split("\t")[0] as string), stdout: out.stdout };
}

const inside = (script: string) => berth(["workspace", "exec", WS, "--", "sh", "-c", script]);

beforeAll(async () => {
  await gw.start();
  gw.bucket("berth-backups");
  await git(tmp, "init", "--quiet", "--initial-branch", "main", repo);
  await commit(
    repo,
    {
      ".devcontainer/devcontainer.json": JSON.stringify({
        build: { dockerfile: "Dockerfile" },
        remoteUser: "dev",
      }),
      ".devcontainer/Dockerfile": `FROM ${BASE_IMAGE}\nRUN useradd --create-home --uid 1000 --shell /bin/bash dev\n`,
      "README.md": "snapshots\n",
    },
    "workspace",
  );
  await h.startDaemon();
  await declareWorkspace(h, declaration());
  await until(
    "the workspace to run",
    async () => {
      const s = await status();
      if (s?.state === "failed") throw new Error(`workspace failed: ${s.error}`);
      return s?.state === "running" ? s : undefined;
    },
    300_000,
  );
}, 600_000);

afterAll(async () => {
  await h.channel.delete(workspaceKeys.declaration(h.nodeId, WS));
  await h.cleanup([]);
  await removeWorkspaceObjects(WS, RUN);
  await removeLocalWorkspaceImages(`acme/snap-${RUN}`);
  await gw.cleanup();
  rmSync(tmp, { recursive: true, force: true });
}, 120_000);

describe("a workspace's snapshots by hand", () => {
  let first = "";

  it("lists the backup taken at the idle stop as one snapshot of tree, home and notes", async () => {
    const v1 = await inside("echo v1 > notes.txt && echo v1 > ~/home-note");
    expect(v1.exitCode, v1.stderr).toBe(0);
    await until(
      "the backup after the idle stop",
      async () => {
        const s = await status();
        const vols = s?.backup?.volumes ?? [];
        if (vols.some((v) => v.last && !v.last.ok)) throw new Error(`backup failed: ${JSON.stringify(vols)}`);
        return s?.state === "stopped" && vols.length === 3 && vols.every((v) => v.lastSuccess)
          ? s
          : undefined;
      },
      120_000,
    );
    const { ids } = await listed();
    expect(ids).toHaveLength(1);
    first = ids[0] as string;
  }, 300_000);

  it("restores it while the workspace runs: the current state backed up first and named, the same container started again", async () => {
    // The access wakes it; v2 is the state the restore must not lose.
    const v2 = await inside("echo v2 > notes.txt && echo v2 > ~/home-note");
    expect(v2.exitCode, v2.stderr).toBe(0);
    const before = await status();
    expect(before?.state).toBe("running");
    const out = await berth(["workspace", "restore", WS, first]);
    expect(out.exitCode, out.stdout + out.stderr + h.daemonLog()).toBe(0);
    expect(out.stdout).toContain(`stopping workspace ${WS} for the restore`);
    const saved = /backed up first as snapshot ([0-9a-f]{8})/.exec(out.stdout)?.[1];
    expect(saved, out.stdout).toBeDefined();
    expect(out.stdout).toContain(`workspace ${WS} restored to snapshot ${first}`);
    const after = await status();
    expect(after?.state).toBe("running");
    expect(after?.containerId).toBe(before?.containerId);
    expect((await inside("cat notes.txt ~/home-note")).stdout).toBe("v1\nv1\n");
    // Both are listed, the one taken before the restore first; and it brings v2 back.
    const { ids } = await listed();
    expect(ids.slice(0, 1)).toEqual([saved]);
    expect(ids).toContain(first);
    const back = await berth(["workspace", "restore", WS, saved as string]);
    expect(back.exitCode, back.stdout + back.stderr).toBe(0);
    expect((await inside("cat notes.txt ~/home-note")).stdout).toBe("v2\nv2\n");
    // The tree is still the branch's clone with its work uncommitted (git on the node: the image has none).
    const st = await run("git", ["-C", join(h.stateRoot, "workspaces", WS, "repo"), "status", "--short"], {
      env: { GIT_CONFIG_COUNT: "1", GIT_CONFIG_KEY_0: "safe.directory", GIT_CONFIG_VALUE_0: "*" },
    });
    expect(st.stdout.trim()).toBe("?? notes.txt");
  }, 300_000);

  it("refuses an unknown snapshot with nothing changed, and an operator without the grant", async () => {
    const count = (await listed()).ids.length;
    const none = await berth(["workspace", "restore", WS, "deadbeef"]);
    expect(none.exitCode).toBe(1);
    expect(none.stdout).toContain(`workspace ${WS} has no snapshot deadbeef`);
    expect(none.stdout).toContain("nothing changed");
    expect((await listed()).ids).toHaveLength(count);
    expect((await inside("cat notes.txt")).stdout).toBe("v2\n");
    for (const cmd of [
      ["workspace", "snapshots", WS],
      ["workspace", "restore", WS, first],
    ]) {
      const refused = await berth(cmd, "bob");
      expect(refused.exitCode).not.toBe(0);
      expect(refused.stderr).toContain("NO_GRANT");
      expect(refused.stdout).toBe("");
    }
    expect((await inside("cat notes.txt")).stdout).toBe("v2\n");
  }, 300_000);

  it("records each in the node's access status: who, what, when, the snapshot and the exit code", async () => {
    const text = await h.channel.get(channelKeys.accessStatus(h.nodeId));
    const sessions = accessStatus.parse(JSON.parse(text ?? "{}")).sessions;
    const restores = sessions.filter((s) => s.action === "workspace-restore");
    expect(restores.map((s) => [s.operator, s.exitCode ?? s.refused?.code])).toEqual([
      ["alice", 0],
      ["alice", 0],
      ["alice", 1],
      ["bob", "NO_GRANT"],
    ]);
    expect(restores[0]?.detail).toBe(`snapshot=${first}`);
    expect(restores[0]?.target).toEqual({ kind: "workspace", id: WS });
    expect(sessions.some((s) => s.action === "workspace-snapshots" && s.operator === "alice")).toBe(true);
    expect(text).not.toContain(password);
  });
});
