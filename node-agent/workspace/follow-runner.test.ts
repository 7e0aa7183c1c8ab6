// The follow runner against real git (a repository on disk, the agent's bare copy) and a recording
// fake for the Docker calls in the container. The real agent's run: test/system/workspace-lifecycle.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { WorkspaceStatus } from "../../contract/workspace/declaration";
import { type RunResult, run } from "../../lib/process";
import type { DockerCallOptions, DockerRunner } from "../docker";
import type { Command } from "./commands";
import type { WorkspaceSpec } from "./executor";
import { BranchFollower, type BuildSource } from "./follow-runner";
import { repo, write } from "./test-repo";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const git = (cwd: string, ...args: string[]) =>
  run("git", ["-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false", ...args], {
    cwd,
  }).then((r) => r.stdout.trim());

/** A repository with one commit on `feat`; its path is the workspace's repository. */
async function origin(): Promise<{
  dir: string;
  commit: (files: Record<string, string>) => Promise<string>;
}> {
  const dir = repo({
    ".devcontainer/devcontainer.json": '{ "build": { "dockerfile": "Dockerfile" } }\n',
    ".devcontainer/Dockerfile": "FROM debian\nRUN true\n",
  });
  dirs.push(dir);
  await git(dir, "init", "--quiet", "-b", "feat");
  await git(dir, "add", ".");
  await git(dir, "commit", "--quiet", "-m", "one");
  return {
    dir,
    commit: async (files) => {
      for (const [p, c] of Object.entries(files)) write(dir, p, c);
      await git(dir, "add", ".");
      await git(dir, "commit", "--quiet", "-m", "next");
      return git(dir, "rev-parse", "HEAD");
    },
  };
}

interface Call {
  line: string;
  opts: DockerCallOptions;
}

/** git runs for real; `docker` is recorded and answered by `docker`. */
function runner(docker: (c: Command) => RunResult = (c) => ok(c)) {
  const calls: Call[] = [];
  const r: DockerRunner = async (c, opts = {}) => {
    calls.push({ line: [c.file, ...c.args].join(" "), opts });
    if (c.file === "docker") return docker(c);
    return run(c.file, c.args, {
      isolatedEnv: true,
      env: opts.env,
      timeoutMs: opts.timeoutMs,
      allowFailure: opts.allowFailure,
    });
  };
  return { calls, run: r };
}

const ok = (c: Command, stdout = ""): RunResult => ({
  command: c.args.join(" "),
  exitCode: 0,
  stdout,
  stderr: "",
});

function follower(o: { run: DockerRunner; built?: BuildSource[]; password?: string }) {
  const state = mkdtempSync(join(tmpdir(), "berth-follow-"));
  dirs.push(state);
  const f = new BranchFollower({
    run: o.run,
    dir: (id) => join(state, "workspaces", id),
    credentialHelper: async () => undefined,
    build: async (_spec, source) => {
      o.built?.push(source);
      return { workspaceId: "ws1", state: "stopped", image: "img:k" } as WorkspaceStatus;
    },
    cliVersion: "0.89.0",
    stepTimeoutSeconds: 60,
  });
  return { f, state };
}

const specOf = (repository: string, extra: Partial<WorkspaceSpec> = {}): WorkspaceSpec =>
  ({
    id: "ws1",
    repository,
    repositoryName: "r",
    branch: "feat",
    defaultBranch: "main",
    trusted: true,
    allowInitializeCommand: false,
    defaultImage: "debian",
    ...extra,
  }) as WorkspaceSpec;

describe("the follow runner", () => {
  it("fetches the branch into the agent's copy, answers ancestry, and checks a commit out beside the tree", async () => {
    const o = await origin();
    const first = await git(o.dir, "rev-parse", "HEAD");
    const { calls, run } = runner();
    const { f, state } = follower({ run });
    const spec = specOf(o.dir, { gitCredential: { username: "u", password: "tok-secret-9" } });
    expect(await f.fetchBranch(spec)).toBe(first);
    expect(existsSync(join(state, "workspaces/ws1/branch.git/HEAD"))).toBe(true);
    // Every git call: no prompt, the credential redacted.
    for (const c of calls) {
      expect(c.opts.env).toEqual({ GIT_TERMINAL_PROMPT: "0" });
      expect(c.opts.redact).toEqual(["tok-secret-9"]);
    }
    expect(calls[0]!.line).toMatch(/^git init --quiet --bare /);

    const second = await o.commit({ ".devcontainer/Dockerfile": "FROM debian\nRUN echo two\n" });
    calls.length = 0;
    expect(await f.fetchBranch(spec)).toBe(second);
    expect(calls.map((c) => c.line.split(" ").slice(3, 4)[0])).toEqual(["fetch", "rev-parse"]);
    expect(await f.isAncestor(spec, first, second)).toBe(true);
    expect(await f.isAncestor(spec, second, first)).toBe(false);
    expect(await f.isAncestor(spec, "f".repeat(40), second)).toBe(false);

    const next = await f.checkoutFetched(spec, second);
    expect(next).toBe(join(state, "workspaces/ws1/next"));
    expect(readFileSync(join(next, ".devcontainer/Dockerfile"), "utf8")).toContain("echo two");
    expect(existsSync(join(next, ".git"))).toBe(false);
    expect(existsSync(join(state, "workspaces/ws1/next.tar"))).toBe(false);
    const key = f.keyOf(spec, next);
    expect(key).toMatch(/^[0-9a-f]+$/);
    expect(f.keyOf(spec, join(state, "nowhere"))).toBeUndefined();
  });

  it("prebuilds a checkout with a status file of its own", async () => {
    const built: BuildSource[] = [];
    const { f, state } = follower({ run: runner().run, built });
    const s = await f.prebuild(specOf("/nowhere"), "/x/next");
    expect(s.image).toBe("img:k");
    expect(built).toEqual([{ repoDir: "/x/next", statusFile: join(state, "workspaces/ws1/next.json") }]);
  });

  it("moves the tree inside the container with a bundle since the base, and removes the bundle", async () => {
    const o = await origin();
    const base = await git(o.dir, "rev-parse", "HEAD");
    const next = await o.commit({ "src/new.txt": "new\n" });
    const { calls, run } = runner();
    const { f, state } = follower({ run });
    const spec = specOf(o.dir);
    await f.fetchBranch(spec);
    calls.length = 0;
    const target = { container: "c0ffee", user: "dev", folder: "/workspaces/r", commit: next };
    expect(await f.advanceTree(spec, { ...target, base })).toEqual({ ok: true });
    const lines = calls.map((c) => c.line);
    expect(lines[0]).toContain(`merge-base --is-ancestor ${base} ${next}`);
    expect(lines[1]).toMatch(
      new RegExp(`bundle create --quiet .*follow\\.bundle refs/heads/feat \\^${base}$`),
    );
    expect(lines.slice(2).map((l) => l.split(" ").slice(0, 2).join(" "))).toEqual([
      "docker cp",
      "docker exec",
      "docker exec",
    ]);
    expect(lines[3]).toContain("git merge --ff-only");
    expect(lines[4]).toMatch(/rm -f -- \/tmp\/berth-follow-\d+\.bundle$/);
    expect(existsSync(join(state, "workspaces/ws1/follow.bundle"))).toBe(false);

    // A base the copy does not hold: the whole branch goes in.
    calls.length = 0;
    await f.advanceTree(spec, { ...target, base: "f".repeat(40) });
    expect(calls[1]!.line).toMatch(/refs\/heads\/feat$/);
  });

  it("holds the tree when git in the container refuses, with its reason, and still removes the bundle", async () => {
    const o = await origin();
    const next = await o.commit({ "src/new.txt": "new\n" });
    const { calls, run } = runner((c) =>
      c.args.some((a) => a.includes("merge --ff-only"))
        ? {
            command: "",
            exitCode: 1,
            stdout: "",
            stderr:
              "error: The following untracked working tree files would be overwritten by merge:\n\tsrc/new.txt",
          }
        : ok(c),
    );
    const { f } = follower({ run });
    const spec = specOf(o.dir);
    await f.fetchBranch(spec);
    const r = await f.advanceTree(spec, { container: "c0ffee", user: "dev", folder: "/w", commit: next });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toMatch(/without touching local work.*src\/new\.txt.*commit or stash/s);
    expect(calls.at(-1)!.line).toMatch(/^docker exec -u root c0ffee rm -f --/);
  });
});
