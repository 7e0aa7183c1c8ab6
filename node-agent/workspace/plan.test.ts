import { describe, expect, it } from "vitest";
import { isolatedBuilder } from "./builder";
import { devcontainerTags } from "./cache-key";
import { push } from "./commands";
import { planWorkspace, startConfig, type WorkspacePlanInput } from "./plan";

const tags = (trusted: boolean, branch = "feature") =>
  devcontainerTags({
    namespace: "127.0.0.1:5000/berth",
    repo: "acme/app",
    config: "default",
    key: "b".repeat(64),
    branch,
    defaultBranch: "main",
    trusted,
  });

function input(o: Partial<WorkspacePlanInput> = {}): WorkspacePlanInput {
  return {
    workspaceFolder: "/var/lib/berth/ws/w1/repo",
    config: {
      file: "/var/lib/berth/ws/w1/repo/.devcontainer/devcontainer.json",
      content: {
        build: { dockerfile: "Dockerfile" },
        postCreateCommand: "make",
        initializeCommand: "echo hi",
        runArgs: ["-t"],
      },
      kind: "dockerfile",
    },
    tags: tags(true),
    registry: {
      reachable: true,
      exactExists: false,
      branchCacheExists: true,
      defaultBranchCacheExists: true,
    },
    trusted: true,
    isDefaultBranch: false,
    allowInitializeCommand: false,
    defaultImage: "127.0.0.1:5000/berth/default:1",
    startConfigFile: "/var/lib/berth/ws/w1/start.json",
    devcontainerCli: "/opt/berth/node_modules/.bin/devcontainer",
    idLabels: { "berth.workspace": "w1" },
    pushTimeoutSeconds: 300,
    dockerEnv: { DOCKER_HOST: "unix:///run/docker.sock" },
    // (Only untrusted builds use it.)
    isolatedBuilder: isolatedBuilder("w1", { image: "moby/buildkit:v0.13.2", network: "berth-builds" }, "/b"),
    ...o,
  };
}

const line = (c: { file: string; args: string[] }) => [c.file.split("/").pop(), ...c.args].join(" ");

describe("workspace plan", () => {
  it("pulls and starts on an exact hit, no build", () => {
    const p = planWorkspace(
      input({
        registry: {
          reachable: true,
          exactExists: true,
          branchCacheExists: true,
          defaultBranchCacheExists: true,
        },
      }),
    );
    expect(p.mode).toBe("exact-hit");
    expect(p.credentials).toBe("pull");
    expect(p.steps.map((s) => s.phase)).toEqual(["pulling cache", "starting"]);
    expect(line(p.steps[0]!.command)).toBe(`docker pull --quiet ${tags(true).exact}`);
    expect(p.fallback?.mode).toBe("plain-build");
  });

  it("builds with a cache-from chain on a miss, then pushes in the background", () => {
    const p = planWorkspace(input());
    const t = tags(true);
    expect(p.mode).toBe("cached-build");
    expect(p.cacheFrom).toEqual([t.branch, t.defaultBranch]);
    expect(line(p.steps[0]!.command)).toBe(
      `devcontainer build --workspace-folder /var/lib/berth/ws/w1/repo --config /var/lib/berth/ws/w1/repo/.devcontainer/devcontainer.json --image-name ${t.exact} --cache-from ${t.branch} --cache-from ${t.defaultBranch} --log-format json`,
    );
    expect(line(p.steps[1]!.command)).toContain(
      "up --workspace-folder /var/lib/berth/ws/w1/repo --override-config /var/lib/berth/ws/w1/start.json --id-label berth.workspace=w1 --update-remote-user-uid-default never --mount-workspace-git-root false --buildkit never",
    );
    const pushes = p.steps.slice(2);
    expect(pushes.every((s) => s.background && s.onFailure === "warn" && s.timeoutSeconds === 300)).toBe(
      true,
    );
    expect(pushes.map((s) => line(s.command))).toEqual([
      line(push(t.exact)),
      `docker tag ${t.exact} ${t.branch}`,
      line(push(t.branch)),
      `docker tag ${t.exact} ${t.branch}.full`,
      line(push(`${t.branch}.full`)),
    ]);
    // The `.full` companion moves only after a build that ran every step.
    expect(pushes.map((s) => s.onlyIfFullBuild === true)).toEqual([false, false, false, true, true]);
    expect(p.steps[0]!.onFailure).toBe("fallback");
    expect(p.fallback?.startConfig).toEqual({ image: "127.0.0.1:5000/berth/default:1" });
  });

  it("moves the default branch's tag only from a trusted build of the default branch", () => {
    const t = tags(true, "main");
    const p = planWorkspace(input({ tags: t, isDefaultBranch: true }));
    expect(p.cacheFrom).toEqual([t.defaultBranch]);
    expect(
      p.steps
        .filter((s) => !s.onlyIfFullBuild)
        .map((s) => line(s.command))
        .at(-1),
    ).toBe(line(push(t.defaultBranch)));
  });

  it("lets untrusted branches read the cache but never write the exact image or trusted tags", () => {
    const t = tags(false, "main");
    const p = planWorkspace(
      input({
        tags: t,
        trusted: false,
        registry: {
          reachable: true,
          exactExists: false,
          branchCacheExists: false,
          defaultBranchCacheExists: true,
          trustedBranchCacheExists: true,
        },
      }),
    );
    expect(p.cacheFrom).toEqual([t.defaultBranch]);
    const written = p.steps.filter((s) => s.phase === "pushing cache").map((s) => s.command.args.at(-1));
    expect(written).toEqual([t.branch, t.branch, `${t.branch}.full`, `${t.branch}.full`]);
    expect(written).not.toContain(t.defaultBranch);
    expect(written).not.toContain(t.exact);
    expect(t.branch).toMatch(/:untrusted-/);
    // With its own code on the node (initializeCommand), an untrusted build gets no push credentials.
    const q = planWorkspace(input({ tags: t, trusted: false, allowInitializeCommand: true }));
    expect(q.credentials).toBe("pull");
    expect(q.steps.some((s) => s.phase === "pushing cache")).toBe(false);
  });

  it("puts each cache tag's .full companion right after it in the chain, when it exists", () => {
    const t = tags(true);
    const p = planWorkspace(
      input({
        registry: {
          reachable: true,
          exactExists: false,
          branchCacheExists: true,
          defaultBranchCacheExists: true,
          fullTags: [`${t.branch}.full`, `${t.defaultBranch}.full`],
        },
      }),
    );
    expect(p.cacheFrom).toEqual([t.branch, `${t.branch}.full`, t.defaultBranch, `${t.defaultBranch}.full`]);
  });

  it("builds plainly when the registry is unreachable, and starts the default image without a config", () => {
    const p = planWorkspace(
      input({
        registry: {
          reachable: false,
          exactExists: false,
          branchCacheExists: false,
          defaultBranchCacheExists: false,
        },
      }),
    );
    expect(p.mode).toBe("plain-build");
    expect(p.credentials).toBe("none");
    expect(p.steps[0]!.command.args).not.toContain("--cache-from");
    expect(p.steps.some((s) => s.phase === "pushing cache")).toBe(false);
    const d = planWorkspace(input({ config: undefined, tags: undefined }));
    expect(d.mode).toBe("default-image");
    expect(d.startConfig).toEqual({ image: "127.0.0.1:5000/berth/default:1" });
  });

  it("passes only the Docker host, never the agent's environment; each step names the login it needs", () => {
    process.env.BERTH_AGENT_SECRET = "s3cret";
    const p = planWorkspace(input());
    for (const s of p.steps) expect(s.command.env).toEqual({ DOCKER_HOST: "unix:///run/docker.sock" });
    delete process.env.BERTH_AGENT_SECRET;
    // The build reads the cache (pull); only the agent's own push steps get the push login.
    expect(p.steps.map((s) => `${s.phase}:${s.command.args[0]}:${s.credentials}`)).toEqual([
      "building:build:pull",
      "starting:up:none",
      "pushing cache:-c:push",
      "pushing cache:tag:none",
      "pushing cache:-c:push",
      "pushing cache:tag:none",
      "pushing cache:-c:push",
    ]);
    expect(p.credentials).toBe("push");
  });

  it("waits for the prefetch and tags it when the first cache tag the registry holds is the exact image", () => {
    const t = tags(true);
    const registry = {
      reachable: true,
      exactExists: true,
      branchCacheExists: true,
      defaultBranchCacheExists: true,
      digests: { exact: "sha256:a", branch: "sha256:a", defaultBranch: "sha256:b" },
    };
    const p = planWorkspace(input({ registry }));
    expect(p.prefetch).toBe("wait");
    expect(p.steps[0]!.whenPrefetched).toMatchObject({ tag: t.branch });
    expect(line(p.steps[0]!.whenPrefetched!.command)).toBe(`docker tag ${t.branch} ${t.exact}`);
    // The branch's tag is another image: the prefetch is stopped and the exact image pulled.
    const q = planWorkspace(
      input({ registry: { ...registry, digests: { ...registry.digests, branch: "sha256:c" } } }),
    );
    expect(q.prefetch).toBe("stop");
    expect(q.steps[0]!.whenPrefetched).toBeUndefined();
    expect(planWorkspace(input()).prefetch).toBe("stop");
  });

  it("checks an untrusted workspace's image after the build or pull, before it starts and before any push", () => {
    const t = tags(false);
    const miss = planWorkspace(input({ tags: t, trusted: false }));
    expect(miss.steps.map((s) => s.phase)).toEqual([
      "building",
      "checking",
      "starting",
      "pushing cache",
      "pushing cache",
      "pushing cache",
      "pushing cache",
    ]);
    const check = miss.steps[1]!;
    expect(check).toMatchObject({ checksLabel: true, onFailure: "fail", credentials: "none" });
    expect(line(check.command)).toMatch(
      new RegExp(`^docker image inspect --format .* ${t.exact.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`),
    );
    const hit = planWorkspace(
      input({
        tags: t,
        trusted: false,
        registry: {
          reachable: true,
          exactExists: true,
          branchCacheExists: false,
          defaultBranchCacheExists: false,
        },
      }),
    );
    expect(hit.steps.map((s) => s.phase)).toEqual(["pulling cache", "checking", "starting"]);
    expect(hit.fallback!.steps.map((s) => s.phase)).toEqual(["building", "checking", "starting"]);
    expect(planWorkspace(input()).steps.some((s) => s.phase === "checking")).toBe(false);
  });

  it("adds the declaration's limits to docker run, before a trusted config's own runArgs", () => {
    const p = planWorkspace(input({ limits: { cpus: 1.5, memoryMb: 2048, pids: 512 } }));
    expect(p.startConfig.runArgs).toEqual([
      "--cpus",
      "1.5",
      "--memory",
      "2048m",
      "--pids-limit",
      "512",
      "-t",
    ]);
    expect(p.fallback!.startConfig.runArgs).toEqual([
      "--cpus",
      "1.5",
      "--memory",
      "2048m",
      "--pids-limit",
      "512",
    ]);
  });

  it("chains fallbacks through onFailure: a failed pull builds here, a failed build starts the default image", () => {
    const hit = planWorkspace(
      input({
        registry: {
          reachable: true,
          exactExists: true,
          branchCacheExists: false,
          defaultBranchCacheExists: false,
        },
      }),
    );
    expect(hit.steps[0]).toMatchObject({ phase: "pulling cache", onFailure: "fallback" });
    expect(hit.fallback).toMatchObject({ mode: "plain-build", instead: "building here instead" });
    expect(hit.fallback!.steps[0]).toMatchObject({
      phase: "building",
      onFailure: "fail",
      credentials: "none",
    });
    const miss = planWorkspace(input());
    expect(miss.fallback).toMatchObject({ mode: "default-image", image: "127.0.0.1:5000/berth/default:1" });
    expect(miss.fallback!.steps.map((s) => [s.phase, s.onFailure])).toEqual([["starting", "fail"]]);
  });

  it("starts from the exact image with what the label does not carry; initializeCommand only when allowed", () => {
    const content = input().config!.content;
    expect(startConfig(content, "img", false)).toEqual({ image: "img", runArgs: ["-t"] });
    expect(startConfig(content, "img", true)).toEqual({
      image: "img",
      runArgs: ["-t"],
      initializeCommand: "echo hi",
    });
  });

  it("makes a compose config's files absolute and keeps its own build", () => {
    const p = planWorkspace(
      input({
        config: {
          file: "/r/.devcontainer/devcontainer.json",
          content: { dockerComposeFile: ["../compose.yaml"], service: "dev" },
          kind: "compose",
        },
      }),
    );
    expect(p.mode).toBe("compose");
    expect(p.startConfig).toMatchObject({ dockerComposeFile: ["/r/compose.yaml"], service: "dev" });
    // Compose may build its services: `up` keeps BuildKit.
    expect(line(p.steps[0]!.command)).not.toContain("--buildkit");
  });

  it("keeps BuildKit for `up` when the config asks for the remote user's UID update", () => {
    const p = planWorkspace(
      input({
        config: {
          file: "/r/.devcontainer/devcontainer.json",
          content: { image: "debian", updateRemoteUserUID: true },
          kind: "image",
        },
      }),
    );
    const up = p.steps.find((s) => s.phase === "starting")!;
    expect(line(up.command)).toContain("--mount-workspace-git-root false");
    expect(line(up.command)).not.toContain("--buildkit");
  });
});
