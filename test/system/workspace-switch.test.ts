// `berth workspace switch` through the access path: the real agent daemon, its HAProxy, real
// Docker, the real devcontainer CLI and the bundled `berth` CLI. The daemon fetches the branch once
// when the workspace starts and then only every hour here, so what moves the tree is the
// operator's switch: the branch fetched now, the tree fast-forwarded inside the container, the
// status's commit with it, and uncommitted work still there. A branch other than the declared one
// is refused (the stack decides which branch a workspace follows); an operator without the grant
// is refused and the tree does not move; each session is recorded.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accessStatus } from "../../contract/access/status";
import { channelKeys } from "../../contract/channel/layout";
import { generateSigningKeyPair } from "../../contract/payload";
import { type WorkspaceDeclaration, workspaceKeys } from "../../contract/workspace/declaration";
import { run } from "../../lib/process";
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
const WS = `switch-${RUN}`;
const BERTH = join(__dirname, "..", "..", "dist", "berth.js");
const h = new AgentHarness();
const tmp = mkdtempSync(join(tmpdir(), "berth-ws-switch-"));
const repo = join(tmp, "repo");
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
const inside = (script: string) => berth(["workspace", "exec", WS, "--", "sh", "-c", script]);

const declaration = (): WorkspaceDeclaration => ({
  formatVersion: 1,
  workspaceId: WS,
  nodeId: h.nodeId,
  generation: 1,
  repository: repo,
  repositoryName: `acme/switch-${RUN}`,
  branch: "main",
  defaultBranch: "main",
  trusted: true,
  allowInitializeCommand: false,
  defaultImage: BASE_IMAGE,
  // Never idle; the branch fetched by the daemon at the start, then only an hour later.
  lifecycle: { idleTimeoutSeconds: 0, followSeconds: 3600 },
  access: {
    operators: [
      { name: "alice", publicKey: alice.publicKey, environments: [], workspaces: [WS] },
      // Bob holds a valid key, granted another workspace only.
      { name: "bob", publicKey: bob.publicKey, environments: ["*"], workspaces: [`other-${RUN}`] },
    ],
    commands: true,
  },
});

const status = () => workspaceStatusOf(h, WS);

const until = <T>(what: string, fn: () => Promise<T | undefined>, ms: number) => untilShared(h, what, fn, ms);

beforeAll(async () => {
  await git(tmp, "init", "--quiet", "--initial-branch", "main", repo);
  await commit(
    repo,
    {
      ".devcontainer/devcontainer.json": JSON.stringify({
        build: { dockerfile: "Dockerfile" },
        remoteUser: "dev",
      }),
      // git in the image: the agent moves the tree inside the container, as its user.
      ".devcontainer/Dockerfile": [
        `FROM ${BASE_IMAGE}`,
        "RUN apt-get update && apt-get install -y --no-install-recommends git && rm -rf /var/lib/apt/lists/*",
        "RUN useradd --create-home --uid 1000 --shell /bin/bash dev",
        "",
      ].join("\n"),
      "README.md": "switch\n",
    },
    "workspace",
  );
  await h.startDaemon();
  await declareWorkspace(h, declaration());
  await until(
    "the workspace to run, its branch fetched once",
    async () => {
      const s = await status();
      if (s?.state === "failed") throw new Error(`workspace failed: ${s.error}`);
      return s?.state === "running" && s.follow?.state === "current" ? s : undefined;
    },
    600_000,
  );
}, 700_000);

afterAll(async () => {
  await h.channel.delete(workspaceKeys.declaration(h.nodeId, WS));
  await h.cleanup([]);
  await removeWorkspaceObjects(WS, RUN);
  await removeLocalWorkspaceImages(`acme/switch-${RUN}`);
  rmSync(tmp, { recursive: true, force: true });
}, 120_000);

describe("berth workspace switch", () => {
  it("fetches the branch now and moves the tree to its newest commit, uncommitted work kept", async () => {
    const edit = await inside("echo mine > notes.txt");
    expect(edit.exitCode, edit.stderr).toBe(0);
    const before = await status();
    await commit(repo, { "src/new.txt": "from the branch\n" }, "a new file");
    const head = await git(repo, "rev-parse", "HEAD");
    // The daemon does not fetch it by itself for an hour.
    expect((await status())?.commit).toBe(before?.commit);
    const out = await berth(["workspace", "switch", WS]);
    expect(out.exitCode, out.stdout + out.stderr + h.daemonLog()).toBe(0);
    expect(out.stdout).toContain("fetching branch main");
    expect(out.stdout).toContain(`workspace ${WS} switched to ${head.slice(0, 12)} on branch main`);
    const tree = await inside("cat src/new.txt notes.txt; git rev-parse HEAD; git status --short");
    expect(tree.stdout).toBe(`from the branch\nmine\n${head}\n?? notes.txt\n`);
    const after = await status();
    expect(after?.commit).toBe(head);
    expect(after?.follow?.state).toBe("current");
    expect(after?.containerId).toBe(before?.containerId);
    // Again, with the declared branch named: nothing new.
    const again = await berth(["workspace", "switch", WS, "main"]);
    expect(again.exitCode, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toContain(`is at branch main's newest commit ${head.slice(0, 12)}`);
  }, 300_000);

  it("refuses another branch than the declared one, and an operator without the grant; the tree stays", async () => {
    await commit(repo, { "src/later.txt": "later\n" }, "a later commit");
    const head = (await status())?.commit as string;
    const other = await berth(["workspace", "switch", WS, "feature"]);
    expect(other.exitCode).toBe(1);
    expect(other.stdout).toContain(`workspace ${WS} follows branch main, as the stack declares`);
    const refused = await berth(["workspace", "switch", WS], "bob");
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stderr).toContain("NO_GRANT");
    expect(refused.stdout).toBe("");
    expect((await inside("git rev-parse HEAD; test -e src/later.txt || echo absent")).stdout).toBe(
      `${head}\nabsent\n`,
    );
    expect((await status())?.commit).toBe(head);
  }, 300_000);

  it("records each switch in the node's access status: who, the branch, the exit code or the refusal", async () => {
    const text = await h.channel.get(channelKeys.accessStatus(h.nodeId));
    const sessions = accessStatus.parse(JSON.parse(text ?? "{}")).sessions;
    const switches = sessions.filter((s) => s.action === "workspace-switch");
    expect(switches.map((s) => [s.operator, s.detail, s.exitCode ?? s.refused?.code])).toEqual([
      ["alice", undefined, 0],
      ["alice", "branch=main", 0],
      ["alice", "branch=feature", 1],
      ["bob", undefined, "NO_GRANT"],
    ]);
  });
});
