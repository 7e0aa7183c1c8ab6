// The executor's loop against a recording fake runner: which commands it runs, in which order,
// with which login in their Docker config, and where a failure leads. No Docker here: the real
// runs are test/system/workspace-*.test.ts.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../../lib/log";
import { ProcessError, type RunResult } from "../../lib/process";
import type { DockerCallOptions, DockerRunner } from "../docker";
import { type Command, push } from "./commands";
import { WorkspaceExecutor, type WorkspaceSpec } from "./executor";
import type { RegistryLookup } from "./registry-lookup";
import { write } from "./test-repo";

interface Call {
  line: string;
  /** The login user in the call's Docker config, "" when it holds none. */
  login: string;
  env: Record<string, string | undefined>;
}

const pullLogin = { username: "puller", password: "pull-secret-1" };
const NS = "127.0.0.1:5999/berth";

/** Answers like Docker, git and the devcontainer CLI would; records every call. */
function fakeRunner(o: { failBuild?: boolean; pulls?: Record<string, number>; driver?: string } = {}) {
  const calls: Call[] = [];
  const runner: DockerRunner = async (c: Command, opts: DockerCallOptions = {}): Promise<RunResult> => {
    const name = c.file.endsWith("devcontainer.js") ? "devcontainer" : c.file;
    const line = [name, ...c.args].join(" ");
    const cfg = opts.env?.DOCKER_CONFIG;
    const file = cfg ? join(cfg, "config.json") : "";
    const login =
      file && existsSync(file) ? (Object.keys(JSON.parse(readFileSync(file, "utf8")).auths)[0] ?? "") : "";
    const auth = file && existsSync(file) ? readFileSync(file, "utf8") : "";
    calls.push({
      line,
      login: auth.includes(Buffer.from("puller:").toString("base64").slice(0, 8))
        ? "pull"
        : login
          ? "other"
          : "",
      env: { ...opts.env },
    });
    const ok = (stdout = ""): RunResult => ({ command: line, exitCode: 0, stdout, stderr: "" });
    if (name === "git" && c.args.includes("rev-parse"))
      return ok("0123456789abcdef0123456789abcdef01234567\n");
    if (name === "git") {
      const dir = c.args.at(-1)!;
      write(dir, ".git/HEAD", "ref: refs/heads/main\n");
      write(dir, ".devcontainer/devcontainer.json", '{ "build": { "dockerfile": "Dockerfile" } }\n');
      write(dir, ".devcontainer/Dockerfile", "FROM debian\nRUN true\n");
      return ok();
    }
    if (c.args[0] === "info" && c.args.includes("{{.Driver}}")) return ok(`${o.driver ?? "overlay2"}\n`);
    if (c.args[0] === "pull") {
      const code = o.pulls?.[c.args.at(-1)!] ?? 1;
      return { command: line, exitCode: code, stdout: "", stderr: "" };
    }
    if (name === "devcontainer" && c.args[0] === "build" && o.failBuild) {
      const stderr =
        '{"type":"raw","level":3,"text":"#5 ERROR: process \\"/bin/sh -c exit 3\\" did not complete successfully: exit code: 3\\n"}';
      throw new ProcessError(`devcontainer build: exited with 1\n${stderr}`, {
        command: line,
        exitCode: 1,
        stdout: '{"outcome":"error","description":"An error occurred building the image."}',
        stderr,
      });
    }
    if (name === "devcontainer" && c.args[0] === "build") return ok('{"outcome":"success"}\n');
    if (name === "devcontainer" && c.args[0] === "up")
      return ok('{"outcome":"success","containerId":"c0ffee","remoteUser":"root"}\n');
    if (c.args[0] === "image") return ok("sha256:img\t\t<no value>\n");
    if (c.args[0] === "exec") return ok(`${process.getuid?.() ?? 0}\n${process.getgid?.() ?? 0}\n`);
    return ok();
  };
  return { calls, runner };
}

const lookup = (r: Partial<RegistryLookup>) => async (): Promise<RegistryLookup> => ({
  reachable: true,
  exactExists: false,
  branchCacheExists: false,
  defaultBranchCacheExists: false,
  ...r,
});

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

function setup(runner: DockerRunner, l: ReturnType<typeof lookup>, snapshotterAuth?: string) {
  const stateRoot = mkdtempSync(join(tmpdir(), "berth-ws-exec-"));
  roots.push(stateRoot);
  const ex = new WorkspaceExecutor({
    stateRoot,
    log: createLogger("executor-test"),
    runner,
    lookup: l,
    dockerHost: "unix:///run/fake.sock",
    ...(snapshotterAuth ? { snapshotterAuth } : {}),
  });
  return { ex, stateRoot };
}

const spec: WorkspaceSpec = {
  id: "w1",
  repository: "/srv/repo.git",
  repositoryName: "acme/app",
  branch: "main",
  defaultBranch: "main",
  trusted: true,
  allowInitializeCommand: false,
  defaultImage: `${NS}/default:1`,
  registry: { namespace: NS, login: pullLogin },
};

const pushLine = (ref: string) => [push(ref).file, ...push(ref).args].join(" ");

const shape = (calls: Call[]) =>
  calls
    .filter((c) => !c.line.startsWith("docker info"))
    .map((c) => c.line.replace(/\/tmp\/berth-ws-exec-\w+/g, "STATE").replace(/[0-9a-f]{64}/g, "KEY"));

describe("the workspace executor on a lazy workspace node (the stargz snapshotter)", () => {
  it("pulls and pushes the eStargz repository, and lends the snapshotter the pull login (0600, merged per host)", async () => {
    const f = fakeRunner({ driver: "stargz" });
    const auth = mkdtempSync(join(tmpdir(), "berth-ws-auth-"));
    roots.push(auth);
    writeFileSync(
      join(auth, "config.json"),
      JSON.stringify({ auths: { "other.example": { auth: "eDp5" } } }),
    );
    const { ex } = setup(f.runner, lookup({}), auth);
    const r = await ex.up(spec);
    await r.background;
    expect(r.status.state).toBe("running");
    const lines = f.calls.map((c) => c.line);
    expect(lines).toContain(`docker pull --quiet ${NS}/acme/app/devcontainer-estargz:cache-default.main`);
    expect(lines.filter((l) => l.includes("/devcontainer:"))).toEqual([]);
    const exact = r.status.image ?? "";
    expect(exact).toMatch(/\/devcontainer-estargz:default-[0-9a-f]{64}$/);
    expect(lines).toContain([push(exact, "estargz").file, ...push(exact, "estargz").args].join(" "));
    const cfg = join(auth, "config.json");
    expect(statSync(cfg).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(cfg, "utf8")).auths).toEqual({
      "other.example": { auth: "eDp5" },
      "127.0.0.1:5999": { auth: Buffer.from("puller:pull-secret-1").toString("base64") },
    });
  });

  it("an overlay2 engine: the zstd repository, and no login lent to anyone", async () => {
    const f = fakeRunner();
    const auth = mkdtempSync(join(tmpdir(), "berth-ws-auth-"));
    roots.push(auth);
    const { ex } = setup(f.runner, lookup({}), auth);
    const r = await ex.up(spec);
    await r.background;
    expect(f.calls.map((c) => c.line).filter((l) => l.includes("devcontainer-estargz"))).toEqual([]);
    expect(existsSync(join(auth, "config.json"))).toBe(false);
  });
});

describe("the workspace executor's loop", () => {
  it("on a miss: clones (prefetching the chain), builds with the pull login, starts, pushes in the background", async () => {
    const f = fakeRunner();
    const { ex, stateRoot } = setup(f.runner, lookup({}));
    const r = await ex.up(spec);
    const final = await r.background;
    expect(r.status.state).toBe("running");
    expect(r.status.mode).toBe("cached-build");
    expect(r.status.phases.map((p) => p.phase)).toEqual(["cloning", "building", "starting"]);
    expect(final.push).toBe("done");
    const lines = shape(f.calls);
    const repo = `${NS}/acme/app/devcontainer`;
    expect(lines).toContain(`docker pull --quiet ${repo}:cache-default.main`);
    expect(lines.filter((l) => l.startsWith("devcontainer"))).toEqual([
      `devcontainer build --workspace-folder STATE/workspaces/w1/repo --config STATE/workspaces/w1/repo/.devcontainer/devcontainer.json --image-name ${repo}:default-KEY --log-format json`,
      "devcontainer up --workspace-folder STATE/workspaces/w1/repo --override-config STATE/workspaces/w1/start.json --id-label berth.workspace=w1 --update-remote-user-uid-default never --mount-workspace-git-root false --buildkit never --log-format json",
    ]);
    expect(lines.slice(-3)).toEqual([
      pushLine(`${repo}:default-KEY`),
      `docker tag ${repo}:default-KEY ${repo}:cache-default.main`,
      pushLine(`${repo}:cache-default.main`),
    ]);
    // Every call: the isolated environment, a Docker config of its own (removed afterwards).
    for (const c of f.calls) {
      if (c.line.startsWith("git")) continue;
      expect(Object.keys(c.env).every((k) => k === "DOCKER_HOST" || k === "DOCKER_CONFIG")).toBe(true);
    }
    for (const c of f.calls.filter((c) => c.line.startsWith("devcontainer")))
      expect(c.env).toMatchObject({
        DOCKER_HOST: "unix:///run/fake.sock",
        DOCKER_CONFIG: expect.any(String),
      });
    const build = f.calls.find((c) => c.line.startsWith("devcontainer build"))!;
    expect(build.login).toBe("pull");
    const upCall = f.calls.find((c) => c.line.startsWith("devcontainer up"))!;
    expect(upCall.login).toBe("");
    const tagCall = f.calls.find((c) => c.line.startsWith("docker tag"))!;
    expect(tagCall.login).toBe("");
    expect(
      readdirSync(join(stateRoot, "workspaces", "w1")).filter((n) => n.startsWith("docker-config-")),
    ).toEqual([]);
  });

  it("on an exact hit the prefetch pulled: tags it, no second pull, no build", async () => {
    const repo = `${NS}/acme/app/devcontainer`;
    const f = fakeRunner({ pulls: { [`${repo}:cache-default.main`]: 0 } });
    const { ex } = setup(
      f.runner,
      lookup({
        exactExists: true,
        branchCacheExists: true,
        digests: { exact: "sha256:e", branch: "sha256:e" },
      }),
    );
    const r = await ex.up(spec);
    expect(r.status.mode).toBe("exact-hit");
    expect(r.status.phases.map((p) => p.phase)).toEqual(["cloning", "pulling cache", "starting"]);
    const lines = shape(f.calls);
    expect(lines).toContain(`docker tag ${repo}:cache-default.main ${repo}:default-KEY`);
    expect(lines).not.toContain(`docker pull --quiet ${repo}:default-KEY`);
    expect(lines.some((l) => l.startsWith("devcontainer build"))).toBe(false);
    expect((await r.background).push).toBe("none");
  });

  it("follows the build step's onFailure: the default image starts, the build log is kept", async () => {
    const f = fakeRunner({ failBuild: true });
    const { ex } = setup(f.runner, lookup({}));
    const r = await ex.up(spec);
    expect(r.status.state).toBe("running");
    expect(r.status.mode).toBe("default-image");
    expect(r.status.image).toBe(`${NS}/default:1`);
    expect(r.status.fallbackReason).toMatch(
      /^building failed: .*exit code: 3; the default image runs instead/,
    );
    expect(readFileSync(r.status.buildLog!, "utf8")).toMatch(/exit code: 3/);
    expect(r.status.phases.map((p) => [p.phase, p.outcome])).toEqual([
      ["cloning", "ok"],
      ["building", "failed"],
      ["starting", "ok"],
    ]);
    // The default image's start: its pull may need the login; nothing is pushed.
    expect(f.calls.find((c) => c.line.startsWith("devcontainer up"))!.login).toBe("pull");
    expect((await r.background).push).toBe("none");
    expect(JSON.parse(readFileSync(join(ex.dir("w1"), "start.json"), "utf8")).image).toBe(`${NS}/default:1`);
  });

  it("a failure whose onFailure is fail: the workspace is failed with the reason", async () => {
    const f = fakeRunner();
    const failing: DockerRunner = async (c, o) => {
      if (c.file === "git")
        throw new ProcessError("git clone: exited with 128\nfatal: Remote branch nope not found", {
          command: "git clone",
          exitCode: 128,
          stdout: "",
          stderr: "",
        });
      return f.runner(c, o);
    };
    const { ex } = setup(failing, lookup({}));
    const r = await ex.up({ ...spec, branch: "nope" });
    expect(r.status.state).toBe("failed");
    expect(r.status.error).toMatch(/Remote branch nope not found/);
  });
});
