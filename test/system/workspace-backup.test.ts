// A workspace's state survives its node: the real agent daemon, real Docker, the real devcontainer
// CLI, real restic and an S3 server (versitygw) on 127.0.0.1. The workspace stops idle (2 s here)
// and its tree (uncommitted work included) and home are backed up; the node is lost (agent, state
// folder, container, home volume) and replaced by a node with new keys, to which the workspace is
// declared again: the replacement restores tree and home before its first start, clones nothing,
// and the workspace runs with both. No backup secret in plain text in the channel or the state.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sealBackupCredentials, type WorkspaceDeclaration } from "../../contract/workspace/declaration";
import { run } from "../../lib/process";
import { AgentHarness } from "./support/agent-harness";
import { BASE_IMAGE, commit, git } from "./support/devcontainer-repo";
import { Versitygw } from "./support/versitygw";
import {
  declareWorkspace,
  removeLocalWorkspaceImages,
  removeWorkspaceObjects,
  until,
  workspaceDeclaration,
  workspaceRunning,
  workspaceStatusOf,
} from "./support/workspace-daemon";

const RUN = Math.random().toString(36).slice(2, 8);
const WS = `bk-${RUN}`;
const gw = new Versitygw();
const tmp = mkdtempSync(join(tmpdir(), "berth-ws-backup-"));
const repo = join(tmp, "repo");
const password = `restic-pw-${Math.random().toString(36).slice(2)}-${Math.random().toString(36).slice(2)}`;
const first = new AgentHarness();
const second = new AgentHarness();

function declaration(h: AgentHarness): WorkspaceDeclaration {
  const d = workspaceDeclaration(h, {
    workspaceId: WS,
    repository: repo,
    repositoryName: `acme/backup-${RUN}`,
    lifecycle: { idleTimeoutSeconds: 2, followSeconds: 0 },
    access: { operators: [], commands: true },
  });
  return {
    ...d,
    backup: {
      repository: `s3:${gw.endpoint}/berth-backups/workspaces/${WS}`,
      region: "us-east-1",
      schedule: "0 3 * * *",
      retention: { last: 3 },
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

/** Every file under a folder (the channel, a state folder). */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((f) => join(dir, f))
    .filter((f) => {
      try {
        return statSync(f).isFile();
      } catch {
        return false;
      }
    });
}

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
      "README.md": "backed up\n",
    },
    "workspace",
  );
}, 120_000);

afterAll(async () => {
  await first.cleanup([]);
  await second.cleanup([]);
  await removeWorkspaceObjects(WS, RUN);
  await removeLocalWorkspaceImages(`acme/backup-${RUN}`);
  await gw.cleanup();
  rmSync(tmp, { recursive: true, force: true });
}, 120_000);

describe("a workspace's state and its node", () => {
  it("backs up tree and home when idle, and a replacement node restores both before its first start", async () => {
    await first.startDaemon();
    await declareWorkspace(first, declaration(first));
    const up = await workspaceRunning(first, WS);
    const cid = String(up.containerId);
    // Uncommitted work in the tree, a coding agent's session in the home.
    writeFileSync(join(first.stateRoot, "workspaces", WS, "repo", "notes.txt"), "work in progress\n");
    await run("docker", [
      "exec",
      "-u",
      "dev",
      cid,
      "sh",
      "-c",
      "mkdir -p ~/.claude && echo session-1 > ~/.claude/s.json",
    ]);
    // Idle: stopped, then backed up.
    const backedUp = await until(
      first,
      "the backup after the idle stop",
      async () => {
        const s = await workspaceStatusOf(first, WS);
        const vols = s?.backup?.volumes ?? [];
        if (vols.some((v) => v.last && !v.last.ok)) throw new Error(`backup failed: ${JSON.stringify(vols)}`);
        return s?.state === "stopped" && vols.length === 3 && vols.every((v) => v.lastSuccess)
          ? s
          : undefined;
      },
      120_000,
    );
    expect(backedUp.stopped?.reason).toBe("idle");
    expect(backedUp.backup?.repository).toBe(`s3:${gw.endpoint}/berth-backups/workspaces/${WS}`);

    // The node is lost: its agent, state folder, container and home volume.
    await first.cleanup([]);
    await removeWorkspaceObjects(WS, RUN);

    // Its replacement: new keys; the program declares the workspace again, sealed to them.
    await second.startDaemon();
    await declareWorkspace(second, declaration(second));
    const again = await workspaceRunning(second, WS, { restored: true });
    expect(again.phases.map((p) => p.phase)).not.toContain("cloning");
    expect(again.commit).toBe(up.commit);
    const restore = again.backup?.restore;
    expect(restore?.volumes.map((v) => [v.volume, v.action])).toEqual([
      ["tree", "restored"],
      ["home", "restored"],
      ["meta", "restored"],
    ]);
    const cid2 = String(again.containerId);
    const inside = (script: string) => run("docker", ["exec", "-u", "dev", cid2, "sh", "-c", script]);
    expect(
      (await inside("cat /workspaces/repo/notes.txt ~/.claude/s.json /workspaces/repo/README.md")).stdout,
    ).toBe("work in progress\nsession-1\nbacked up\n");
    // The tree is still a git clone of the branch, its work uncommitted.
    const st = await run(
      "git",
      ["-C", join(second.stateRoot, "workspaces", WS, "repo"), "status", "--short"],
      {
        env: { GIT_CONFIG_COUNT: "1", GIT_CONFIG_KEY_0: "safe.directory", GIT_CONFIG_VALUE_0: "*" },
      },
    );
    expect(st.stdout.trim()).toBe("?? notes.txt");

    // No backup secret in plain text in the channel or the node's state.
    for (const f of [...filesUnder(second.channelDir), ...filesUnder(second.stateRoot)]) {
      if (f.includes(`${join("workspaces", WS, "repo")}/`)) continue;
      const text = readFileSync(f).toString("latin1");
      for (const secret of [password, gw.secretKey]) expect(text.includes(secret), f).toBe(false);
    }
  }, 600_000);
});
