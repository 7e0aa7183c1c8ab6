// A workspace's state survives a rebuild: files in the working tree and in the remote user's home
// (~/.claude, a coding agent's session folder) are still there after the devcontainer changed and
// the image was rebuilt, in a new container. Real Docker Engine and @devcontainers/cli.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../lib/log";
import { run } from "../../lib/process";
import { WorkspaceExecutor, type WorkspaceSpec } from "../../node-agent/workspace/executor";
import { BASE_IMAGE, commit, git, removeImagesNamed, removeStateVolumes } from "./support/devcontainer-repo";

const RUN = Math.random().toString(36).slice(2, 8);
const ID = `state-${RUN}`;
const log = createLogger("workspace-state-test");
log.level = "warn";
const stateRoot = mkdtempSync(join(tmpdir(), "berth-ws-state-"));
const ex = new WorkspaceExecutor({ stateRoot, log, stepTimeoutSeconds: 600 });
let repo = "";

const dockerfile = (extra = "") =>
  [`FROM ${BASE_IMAGE}`, "RUN useradd --create-home --uid 1000 --shell /bin/bash dev", extra, ""].join("\n");
const spec = (): WorkspaceSpec => ({
  id: ID,
  repository: repo,
  repositoryName: `acme/state-${RUN}`,
  branch: "main",
  defaultBranch: "main",
  trusted: true,
  allowInitializeCommand: false,
  defaultImage: BASE_IMAGE,
});
const inContainer = async (cid: string, script: string) =>
  (await run("docker", ["exec", "-u", "dev", cid, "bash", "-lc", script])).stdout.trim();

beforeAll(async () => {
  repo = mkdtempSync(join(tmpdir(), "berth-ws-state-repo-"));
  await git(repo, "init", "--quiet", "--initial-branch", "main");
  await commit(
    repo,
    {
      ".devcontainer/devcontainer.json": JSON.stringify({
        build: { dockerfile: "Dockerfile" },
        remoteUser: "dev",
      }),
      ".devcontainer/Dockerfile": dockerfile(),
      "README.md": "state\n",
    },
    "workspace",
  );
});

afterAll(async () => {
  await ex.down(ID).catch(() => undefined);
  await removeStateVolumes(RUN);
  await removeImagesNamed([`/acme/state-${RUN}/`]);
  rmSync(stateRoot, { recursive: true, force: true });
  rmSync(repo, { recursive: true, force: true });
});

describe("a workspace's state across a rebuild", () => {
  it("keeps the working tree and ~/.claude when the devcontainer changes and the image is rebuilt", async () => {
    const first = await ex.up(spec());
    expect(first.status.state, first.status.error).toBe("running");
    const cid1 = String(first.status.containerId);
    await inContainer(
      cid1,
      'mkdir -p ~/.claude && echo "session 1" > ~/.claude/session.json && echo "history" >> ~/.bash_history',
    );
    // Uncommitted work in the working tree (the clone on the node, bound into the container).
    const tree = join(ex.dir(ID), "repo");
    writeFileSync(join(tree, "notes.txt"), "work in progress\n");
    // The devcontainer changes in the working tree: a new image, built and started anew.
    writeFileSync(join(tree, ".devcontainer", "Dockerfile"), dockerfile("RUN echo two > /etc/berth-rebuilt"));
    const second = await ex.up(spec());
    expect(second.status.state, second.status.error).toBe("running");
    expect(second.status.phases.map((p) => p.phase)).toContain("building");
    const cid2 = String(second.status.containerId);
    expect(cid2).not.toBe(cid1);
    expect(await inContainer(cid2, "cat /etc/berth-rebuilt")).toBe("two");
    expect(await inContainer(cid2, "cat ~/.claude/session.json")).toBe("session 1");
    expect(await inContainer(cid2, "cat ~/.bash_history")).toContain("history");
    expect(await inContainer(cid2, "cat /workspaces/repo/notes.txt")).toBe("work in progress");
    expect(readFileSync(join(tree, "notes.txt"), "utf8")).toBe("work in progress\n");
    // The image's own dotfiles were copied into the empty volume at the first start.
    expect(await inContainer(cid2, "test -f ~/.bashrc && echo yes")).toBe("yes");
    await Promise.all([first.background, second.background]);
  }, 900_000);
});
