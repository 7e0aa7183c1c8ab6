// A workspace over time, through the real agent daemon, its HAProxy, real Docker, the real
// devcontainer CLI and the bundled `berth` and `berth-agent` CLIs:
// - idle: with no session and no process activity for its idle timeout (3 s here, declared) it is
//   stopped with its state kept and the status says so; a busy process and an open session each
//   keep it running; the next access starts it again and is answered;
// - following its branch (fetched every second here): a new commit that changes the devcontainer
//   is built in the background while the workspace sleeps, and the next start switches to it: a
//   new image, the tree fast-forwarded, uncommitted and untracked work still there; a commit that
//   would overwrite uncommitted work is held when the switch is asked, the work untouched.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSigningKeyPair } from "../../contract/payload";
import { type WorkspaceDeclaration, workspaceKeys } from "../../contract/workspace/declaration";
import { run } from "../../lib/process";
import { AgentHarness } from "./support/agent-harness";
import { BASE_IMAGE, commit, git } from "./support/devcontainer-repo";
import {
  declareWorkspace,
  removeLocalWorkspaceImages,
  removeWorkspaceObjects,
  until as untilOn,
  workspaceDeclaration,
  workspaceRunning,
  workspaceStatusOf,
} from "./support/workspace-daemon";

const RUN = Math.random().toString(36).slice(2, 8);
const WS = `idle-${RUN}`;
const IDLE_SECONDS = 3;
const BERTH = join(__dirname, "..", "..", "dist", "berth.js");
const h = new AgentHarness();
const tmp = mkdtempSync(join(tmpdir(), "berth-ws-idle-"));
const alice = generateSigningKeyPair();
const keyFile = join(tmp, "alice.key");
writeFileSync(keyFile, `${alice.privateKey}\n`, { mode: 0o600 });
const repo = join(tmp, "repo");
const AGENT = join(__dirname, "..", "..", "dist", "berth-agent.js");

/** The bundled CLI with the operator's access options (before a command's `--`). */
const berth = (args: string[]) => {
  const access = ["--url", `http://127.0.0.1:${h.proxyPort}`, "--operator", "alice", "--key", keyFile];
  const at = args.indexOf("--");
  const argv = at < 0 ? [...args, ...access] : [...args.slice(0, at), ...access, ...args.slice(at)];
  return run(process.execPath, [BERTH, ...argv], { allowFailure: true, timeoutMs: 120_000 });
};

const declaration = (): WorkspaceDeclaration =>
  workspaceDeclaration(h, {
    workspaceId: WS,
    repository: repo,
    repositoryName: `acme/idle-${RUN}`,
    lifecycle: { idleTimeoutSeconds: IDLE_SECONDS, followSeconds: 1 },
    access: {
      operators: [{ name: "alice", publicKey: alice.publicKey, environments: [], workspaces: [WS] }],
      commands: true,
    },
  });

const status = () => workspaceStatusOf(h, WS);
const until = <T>(what: string, fn: () => Promise<T | undefined>, ms?: number) => untilOn(h, what, fn, ms);

const containerRunning = async (cid: string) =>
  (await run("docker", ["inspect", "--format", "{{.State.Running}}", cid])).stdout.trim() === "true";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let containerId = "";

// git in the image: the agent moves the tree inside the container, as its user.
const dockerfile = (extra = "") =>
  [
    `FROM ${BASE_IMAGE}`,
    "RUN apt-get update && apt-get install -y --no-install-recommends git && rm -rf /var/lib/apt/lists/*",
    "RUN useradd --create-home --uid 1000 --shell /bin/bash dev",
    extra,
    "",
  ].join("\n");

beforeAll(async () => {
  await git(tmp, "init", "--quiet", "--initial-branch", "main", repo);
  await commit(
    repo,
    {
      ".devcontainer/devcontainer.json": JSON.stringify({
        build: { dockerfile: "Dockerfile" },
        remoteUser: "dev",
      }),
      ".devcontainer/Dockerfile": dockerfile(),
      "README.md": "idle\n",
    },
    "workspace",
  );
  await h.startDaemon();
  await declareWorkspace(h, declaration());
  containerId = String((await workspaceRunning(h, WS)).containerId);
}, 600_000);

afterAll(async () => {
  await h.channel.delete(workspaceKeys.declaration(h.nodeId, WS));
  await h.cleanup([]);
  await removeWorkspaceObjects(WS, RUN);
  await removeLocalWorkspaceImages(`acme/idle-${RUN}`);
  rmSync(tmp, { recursive: true, force: true });
}, 120_000);

describe("an idle workspace", () => {
  it("runs on while a process works, stops once idle with its state kept, and the next access wakes it", async () => {
    // Uncommitted work in the tree and in the home: both outlive the stop.
    const tree = join(h.stateRoot, "workspaces", WS, "repo");
    writeFileSync(join(tree, "notes.txt"), "work in progress\n");
    await run("docker", ["exec", "-u", "dev", containerId, "sh", "-c", "echo kept > ~/home-note"]);
    // A busy process (no session) for twice the timeout: the workspace stays up while it runs.
    const busyUntil = Date.now() + 2 * IDLE_SECONDS * 1000;
    await run("docker", [
      "exec",
      "-d",
      containerId,
      "timeout",
      String(2 * IDLE_SECONDS),
      "sh",
      "-c",
      "while :; do :; done",
    ]);
    await sleep(2 * IDLE_SECONDS * 1000 - 500);
    expect((await status())?.state).toBe("running");
    expect(await containerRunning(containerId)).toBe(true);
    // Then idle: stopped within the timeout and a few passes of the loop after the work ended.
    const stopped = await until(
      "the idle stop",
      async () => {
        const s = await status();
        return s?.state === "stopped" ? s : undefined;
      },
      30_000,
    );
    expect(stopped.stopped?.reason).toBe("idle");
    const idleSince = Date.parse(String(stopped.stopped?.idleSince));
    const at = Date.parse(String(stopped.stopped?.at));
    expect(idleSince).toBeGreaterThanOrEqual(busyUntil - 1500);
    expect(at - idleSince).toBeGreaterThanOrEqual(IDLE_SECONDS * 1000);
    expect(await containerRunning(containerId)).toBe(false);
    // The access wakes it: the same container, tree and home.
    const t0 = Date.now();
    const out = await berth(["workspace", "exec", WS, "--", "sh", "-c", "cat notes.txt ~/home-note"]);
    expect(out.exitCode, out.stderr).toBe(0);
    expect(out.stdout).toBe("work in progress\nkept\n");
    expect(Date.now() - t0).toBeLessThan(30_000);
    const woken = await status();
    expect(woken?.state).toBe("running");
    expect(woken?.stopped).toBeUndefined();
    expect(woken?.containerId).toBe(containerId);
    expect(await containerRunning(containerId)).toBe(true);
  }, 120_000);

  it("an open session keeps it running, however quiet; it stops once the session ended", async () => {
    const session = berth(["workspace", "exec", WS, "--", "sleep", String(2 * IDLE_SECONDS)]);
    await sleep(2 * IDLE_SECONDS * 1000 - 500);
    expect((await status())?.state).toBe("running");
    expect((await session).exitCode).toBe(0);
    const ended = Date.now();
    const s = await until(
      "the idle stop after the session",
      async () => {
        const s = await status();
        return s?.state === "stopped" ? s : undefined;
      },
      30_000,
    );
    expect(Date.parse(String(s.stopped?.at)) - ended).toBeGreaterThanOrEqual(IDLE_SECONDS * 1000 - 1000);
  }, 120_000);
});

describe("a workspace following its branch", () => {
  it("builds a changed devcontainer while it sleeps and switches at the next start, uncommitted work kept", async () => {
    const before = await until(
      "the workspace asleep",
      async () => {
        const s = await status();
        return s?.state === "stopped" ? s : undefined;
      },
      30_000,
    );
    // Uncommitted work: a tracked file changed, an untracked one (notes.txt, from the first test).
    const tree = join(h.stateRoot, "workspaces", WS, "repo");
    writeFileSync(join(tree, "README.md"), "idle, edited\n");
    await commit(
      repo,
      {
        ".devcontainer/Dockerfile": dockerfile("RUN echo two > /etc/berth-followed"),
        "src/new.txt": "from the branch\n",
      },
      "a new devcontainer",
    );
    const head = await git(repo, "rev-parse", "HEAD");
    const ready = await until(
      "the branch's image built",
      async () => {
        const s = await status();
        if (s?.follow?.commit === head && s.follow.state === "failed")
          throw new Error(String(s.follow.reason));
        return s?.follow?.commit === head && s.follow.state === "ready" ? s : undefined;
      },
      300_000,
    );
    // Built in the background: the workspace still sleeps, on its old commit.
    expect(ready.state).toBe("stopped");
    expect(ready.commit).toBe(before.commit);
    expect(ready.follow?.cacheKey).not.toBe(before.cacheKey);
    // The next access starts it on the new commit and image.
    const out = await berth([
      "workspace",
      "exec",
      WS,
      "--",
      "sh",
      "-c",
      "cat /etc/berth-followed src/new.txt notes.txt README.md ~/home-note; git status --short",
    ]);
    expect(out.exitCode, out.stderr + h.daemonLog()).toBe(0);
    expect(out.stdout).toBe(
      "two\nfrom the branch\nwork in progress\nidle, edited\nkept\n M README.md\n?? notes.txt\n",
    );
    const after = await status();
    expect(after?.state).toBe("running");
    expect(after?.commit).toBe(head);
    expect(after?.cacheKey).toBe(ready.follow?.cacheKey);
    expect(after?.follow?.state).toBe("current");
    expect(after?.containerId).not.toBe(containerId);
  }, 600_000);

  it("holds a commit that would overwrite uncommitted work when the switch is asked, and keeps the work", async () => {
    // (An access: it wakes the workspace if it fell asleep since.)
    const edit = await berth(["workspace", "exec", WS, "--", "sh", "-c", "echo mine > src/new.txt"]);
    expect(edit.exitCode, edit.stderr).toBe(0);
    await commit(repo, { "src/new.txt": "theirs\n" }, "the same file, upstream");
    const head = await git(repo, "rev-parse", "HEAD");
    await until(
      "the commit fetched",
      async () => {
        const s = await status();
        return s?.follow?.commit === head && s.follow.state === "ready" ? s : undefined;
      },
      60_000,
    );
    const asked = await run(process.execPath, [AGENT, "workspace", "switch", WS, "--config", h.configFile], {
      allowFailure: true,
    });
    expect(asked.exitCode, asked.stderr).toBe(0);
    const held = await until(
      "the switch held",
      async () => {
        const s = await status();
        return s?.follow?.commit === head && s.follow.state === "held" ? s : undefined;
      },
      60_000,
    );
    expect(held.follow?.reason).toMatch(/without touching local work.*src\/new\.txt.*commit or stash/s);
    expect(held.commit).not.toBe(head);
    const out = await berth(["workspace", "exec", WS, "--", "cat", "src/new.txt"]);
    expect(out.stdout).toBe("mine\n");
  }, 300_000);
});
