import { describe, expect, it } from "vitest";
import { createBuilder, createNetwork } from "./builder";
import { planWorkspace } from "./plan";

const b = { name: "berth-untrusted", image: "berth/buildkit:v0.13.2", network: "berth-builds" };

describe("the isolated builder", () => {
  it("is a BuildKit container on a bridge network of its own, bounded by the limits", () => {
    expect(createBuilder(b, { cpus: 1.5, memoryMb: 2048, pids: 512 }).args.join(" ")).toBe(
      "buildx create --name berth-untrusted --driver docker-container --driver-opt image=berth/buildkit:v0.13.2 --driver-opt network=berth-builds --driver-opt memory=2048m --driver-opt cpu-period=100000 --driver-opt cpu-quota=150000 --bootstrap",
    );
    expect(createNetwork(b).args).toEqual([
      "network",
      "create",
      "--driver",
      "bridge",
      "--label",
      "berth.builder=true",
      "berth-builds",
    ]);
  });

  it("builds untrusted branches only, through BUILDX_BUILDER", () => {
    const input = (trusted: boolean) =>
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
        isolatedBuilder: b,
      }).steps.find((s) => s.phase === "building")!;
    expect(input(false).command.env).toEqual({ BUILDX_BUILDER: "berth-untrusted" });
    expect(input(false).builder).toEqual(b);
    expect(input(true).command.env).toEqual({});
    expect(input(true).builder).toBeUndefined();
  });
});
