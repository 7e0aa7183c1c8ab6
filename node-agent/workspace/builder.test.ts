import { describe, expect, it } from "vitest";
import {
  builderEnv,
  buildkitdToml,
  createBuilder,
  createNetwork,
  isLoopbackHost,
  isolatedBuilder,
  limitBuilderPids,
  loginHosts,
  registryMirror,
  removeBuilder,
} from "./builder";
import { planWorkspace } from "./plan";

const b = isolatedBuilder(
  "w1",
  { image: "moby/buildkit:v0.13.2", network: "berth-builds" },
  "/var/lib/berth/buildx",
);
const limits = { cpus: 1.5, memoryMb: 2048, pids: 512 };

describe("the isolated builder", () => {
  it("is a BuildKit container of the workspace's own, on the builders' bridge, bounded by its limits", () => {
    expect(b.name).toBe("berth-builder-w1");
    expect(createBuilder(b, limits, "/w/buildkitd.toml").args.join(" ")).toBe(
      "buildx create --name berth-builder-w1 --driver docker-container --driver-opt image=moby/buildkit:v0.13.2 --driver-opt network=berth-builds --driver-opt memory=2048m --driver-opt memory-swap=2048m --driver-opt cpu-period=100000 --driver-opt cpu-quota=150000 --driver-opt restart-policy=no --config /w/buildkitd.toml --bootstrap",
    );
    expect(createBuilder(b, limits).args).not.toContain("--config");
    // buildx has no pids option: the container is updated.
    expect(limitBuilderPids(b, limits).args).toEqual([
      "update",
      "--pids-limit",
      "512",
      "buildx_buildkit_berth-builder-w10",
    ]);
    expect(createNetwork(b).args).toEqual([
      "network",
      "create",
      "--driver",
      "bridge",
      "--label",
      "berth.builder=true",
      "berth-builds",
    ]);
    expect(removeBuilder(b).args).toEqual(["buildx", "rm", "berth-builder-w1"]);
    // buildx keeps its builders in the agent's state, not in the command's own Docker config.
    expect(builderEnv(b)).toEqual({
      BUILDX_BUILDER: "berth-builder-w1",
      BUILDX_CONFIG: "/var/lib/berth/buildx",
    });
  });

  it("reaches a registry on the node's loopback through a mirror on the network's gateway, with the login for both", () => {
    expect(isLoopbackHost("127.0.0.1:5000")).toBe(true);
    expect(isLoopbackHost("localhost:5000")).toBe(true);
    expect(isLoopbackHost("[::1]:5000")).toBe(true);
    expect(isLoopbackHost("rg.fr-par.scw.cloud")).toBe(false);
    expect(isLoopbackHost("127.example.com")).toBe(false);
    const m = registryMirror("127.0.0.1:5000", "172.20.0.1");
    expect(m).toEqual({ registry: "127.0.0.1:5000", mirror: "172.20.0.1:5000" });
    expect(buildkitdToml(m)).toBe(
      '[registry."127.0.0.1:5000"]\n  mirrors = ["172.20.0.1:5000"]\n  http = true\n[registry."172.20.0.1:5000"]\n  http = true\n',
    );
    expect(loginHosts("127.0.0.1:5000", m)).toEqual(["127.0.0.1:5000", "172.20.0.1:5000"]);
    // A registry of the internet is reached as it is.
    expect(registryMirror("rg.fr-par.scw.cloud", "172.20.0.1")).toBeUndefined();
    expect(registryMirror("127.0.0.1:5000", undefined)).toBeUndefined();
    expect(loginHosts("rg.fr-par.scw.cloud", undefined)).toEqual(["rg.fr-par.scw.cloud"]);
  });

  it("builds every untrusted branch, and only those", () => {
    const input = (trusted: boolean, withBuilder = true) =>
      planWorkspace({
        workspaceFolder: "/w/repo",
        config: {
          file: "/w/repo/.devcontainer/devcontainer.json",
          content: { build: { dockerfile: "D" } },
          kind: "dockerfile",
        },
        tags: {
          exact: "r/x:default-k",
          branch: "r/x:untrusted-default.f",
          defaultBranch: "r/x:cache-default.main",
          trustedBranch: "r/x:cache-default.f",
          layers: "zstd",
        },
        registry: {
          reachable: false,
          exactExists: false,
          branchCacheExists: false,
          defaultBranchCacheExists: false,
        },
        trusted,
        isDefaultBranch: false,
        allowInitializeCommand: false,
        defaultImage: "d",
        startConfigFile: "/w/start.json",
        devcontainerCli: "devcontainer",
        idLabels: {},
        pushTimeoutSeconds: 1,
        ...(withBuilder ? { isolatedBuilder: b } : {}),
      }).steps.find((s) => s.phase === "building")!;
    expect(input(false).command.env).toEqual({
      BUILDX_BUILDER: "berth-builder-w1",
      BUILDX_CONFIG: "/var/lib/berth/buildx",
    });
    expect(input(false).builder).toEqual(b);
    expect(input(false).credentials).toBe("none");
    expect(input(true).command.env).toEqual({});
    expect(input(true).builder).toBeUndefined();
    // Never Docker's own builder for an untrusted branch.
    expect(() => input(false, false)).toThrow(/needs its isolated builder/);
  });
});
