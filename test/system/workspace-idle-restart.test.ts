// A workspace's idle clock outlives an agent restart: the real agent daemon, its HAProxy, real
// Docker and the bundled `berth` CLI. An access is activity; then the agent dies (SIGKILL, after
// its coalesced write of the activity reached the disk), or stops with a session open (SIGTERM, as
// systemd restarts it: the pending write is flushed), and starts again. The workspace still sleeps
// its timeout after that activity, not after the restart: idleSince is from before the restart
// (an agent that kept its clock in memory would count from its own start).
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSigningKeyPair } from "../../contract/payload";
import { type WorkspaceDeclaration, workspaceKeys } from "../../contract/workspace/declaration";
import { run } from "../../lib/process";
import { ACTIVITY_FILE } from "../../node-agent/workspace/activity-file";
import { AgentHarness } from "./support/agent-harness";
import { BASE_IMAGE, commit, git } from "./support/devcontainer-repo";
import {
  declareWorkspace,
  removeLocalWorkspaceImages,
  removeWorkspaceObjects,
  until as untilShared,
  workspaceStatusOf,
} from "./support/workspace-daemon";

const RUN = Math.random().toString(36).slice(2, 8);
const WS = `restart-${RUN}`;
// Long enough that the access, the restart and the new agent's first pass fit inside it.
const IDLE_SECONDS = 15;
const BERTH = join(__dirname, "..", "..", "dist", "berth.js");
const h = new AgentHarness();
const tmp = mkdtempSync(join(tmpdir(), "berth-ws-restart-"));
const alice = generateSigningKeyPair();
const keyFile = join(tmp, "alice.key");
writeFileSync(keyFile, `${alice.privateKey}\n`, { mode: 0o600 });
const repo = join(tmp, "repo");

const berth = (args: string[]) => {
  const access = ["--url", `http://127.0.0.1:${h.proxyPort}`, "--operator", "alice", "--key", keyFile];
  const at = args.indexOf("--");
  return run(process.execPath, [BERTH, ...args.slice(0, at), ...access, ...args.slice(at)], {
    allowFailure: true,
    timeoutMs: 120_000,
  });
};

const declaration = (): WorkspaceDeclaration => ({
  formatVersion: 1,
  workspaceId: WS,
  nodeId: h.nodeId,
  generation: 1,
  repository: repo,
  repositoryName: `acme/restart-${RUN}`,
  branch: "main",
  defaultBranch: "main",
  trusted: true,
  allowInitializeCommand: false,
  defaultImage: BASE_IMAGE,
  lifecycle: { idleTimeoutSeconds: IDLE_SECONDS, followSeconds: 0 },
  access: {
    operators: [{ name: "alice", publicKey: alice.publicKey, environments: [], workspaces: [WS] }],
    commands: true,
  },
});

const status = () => workspaceStatusOf(h, WS);

const until = <T>(what: string, fn: () => Promise<T | undefined>, ms: number) => untilShared(h, what, fn, ms);

const stoppedIdle = () =>
  until(
    "the idle stop",
    async () => {
      const s = await status();
      return s?.state === "stopped" && s.stopped ? s : undefined;
    },
    120_000,
  );

/** The last activity the agent kept on disk for the workspace. */
function keptActivity(): number | undefined {
  const f = join(h.stateRoot, ACTIVITY_FILE);
  if (!existsSync(f)) return undefined;
  return JSON.parse(readFileSync(f, "utf8")).workspaces?.[WS]?.lastActiveMs;
}

/** An access; returns when it began. */
async function access(): Promise<{ began: number }> {
  const began = Date.now();
  const out = await berth(["workspace", "exec", WS, "--", "true"]);
  expect(out.exitCode, out.stderr + h.daemonLog()).toBe(0);
  return { began };
}

beforeAll(async () => {
  await git(tmp, "init", "--quiet", "--initial-branch", "main", repo);
  await commit(
    repo,
    {
      ".devcontainer/devcontainer.json": JSON.stringify({
        build: { dockerfile: "Dockerfile" },
        remoteUser: "dev",
      }),
      ".devcontainer/Dockerfile": `FROM ${BASE_IMAGE}\nRUN useradd --create-home --uid 1000 --shell /bin/bash dev\n`,
      "README.md": "restart\n",
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
  await removeLocalWorkspaceImages(`acme/restart-${RUN}`);
  rmSync(tmp, { recursive: true, force: true });
}, 120_000);

describe("the idle clock and an agent restart", () => {
  it("an access, then the agent killed once its activity was written: the workspace sleeps its timeout after the access", async () => {
    const a = await access();
    // A crash keeps what the coalesced write put on disk: wait for it.
    await until(
      "the access kept on disk",
      async () => ((keptActivity() ?? 0) >= a.began ? true : undefined),
      30_000,
    );
    const before = await status();
    expect(before?.state, "the workspace slept before the restart: the test's timeout is too short").toBe(
      "running",
    );
    const restartAt = Date.now();
    await h.restartDaemon("SIGKILL");
    const s = await stoppedIdle();
    expect(s.stopped?.reason).toBe("idle");
    const idleSince = Date.parse(String(s.stopped?.idleSince));
    // The clock ran on from the access (not from the restart), and it ran its whole timeout.
    expect(idleSince).toBeGreaterThanOrEqual(a.began);
    expect(idleSince).toBeLessThan(restartAt);
    expect(Date.parse(String(s.stopped?.at)) - idleSince).toBeGreaterThanOrEqual(IDLE_SECONDS * 1000);
    expect(s.containerId).toBe(before?.containerId);
  }, 300_000);

  it("a session open while the agent restarts (SIGTERM): the clock counts from the agent's stop, not its start", async () => {
    // The session wakes the workspace (asleep since the first test) and stays open, quiet.
    const began = Date.now();
    const session = berth(["workspace", "exec", WS, "--", "sleep", "60"]);
    // Open sessions are activity at each pass, kept on disk: seen there 2 s into the session.
    await until(
      "the open session kept on disk",
      async () => ((keptActivity() ?? 0) >= began + 2000 ? true : undefined),
      30_000,
    );
    const before = await status();
    expect(before?.state).toBe("running");
    const restartAt = Date.now();
    await h.restartDaemon("SIGTERM");
    // The session ended with the agent that served it.
    await session;
    const s = await stoppedIdle();
    expect(s.stopped?.reason).toBe("idle");
    const idleSince = Date.parse(String(s.stopped?.idleSince));
    expect(idleSince).toBeGreaterThanOrEqual(began + 2000);
    expect(idleSince).toBeLessThan(restartAt);
    expect(Date.parse(String(s.stopped?.at)) - idleSince).toBeGreaterThanOrEqual(IDLE_SECONDS * 1000);
  }, 300_000);
});
