import { describe, expect, it } from "vitest";
import { workspaceContainerOf } from "./workspace-container";
import { execInWorkspace, writeFileCommand } from "./workspace-handlers";

const inspect = (labels: Record<string, string>, user = "") =>
  JSON.stringify([
    {
      Id: "abc",
      Config: { User: user, WorkingDir: "/", Labels: labels },
      Mounts: [
        { Type: "volume", Source: "/var/lib/docker/volumes/h/_data", Destination: "/home/dev" },
        { Type: "bind", Source: "/state/workspaces/w/repo", Destination: "/workspaces/repo" },
      ],
      NetworkSettings: { Networks: { bridge: { IPAddress: "" }, ws: { IPAddress: "172.20.0.5" } } },
    },
  ]);

describe("workspaceContainerOf", () => {
  it("takes the last remoteUser of the devcontainer metadata, the tree's mount and the address", () => {
    const meta = JSON.stringify([{ remoteUser: "root" }, { containerUser: "x" }, { remoteUser: "dev" }]);
    expect(
      workspaceContainerOf(inspect({ "devcontainer.metadata": meta }), "/state/workspaces/w/repo"),
    ).toEqual({
      id: "abc",
      user: "dev",
      folder: "/workspaces/repo",
      address: "172.20.0.5",
    });
  });

  it("falls back to containerUser, then the image's USER, then root", () => {
    const meta = JSON.stringify([{ containerUser: "app" }]);
    expect(workspaceContainerOf(inspect({ "devcontainer.metadata": meta }), "/x").user).toBe("app");
    expect(workspaceContainerOf(inspect({}, "node"), "/x")).toMatchObject({ user: "node", folder: "/" });
    expect(workspaceContainerOf(inspect({ "devcontainer.metadata": "not json" }), "/x").user).toBe("root");
  });

  it("runs commands as that user in that folder; a written path is an argument, never shell text", () => {
    const w = { id: "abc", user: "dev", folder: "/workspaces/repo", address: undefined };
    expect(execInWorkspace(w, writeFileCommand("a b; rm -rf /", 0o644), { stdin: true }).args).toEqual([
      "exec",
      "--interactive",
      "--user",
      "dev",
      "--workdir",
      "/workspaces/repo",
      "abc",
      "sh",
      "-c",
      'cat > "$1" && chmod 644 "$1"',
      "berth-write",
      "a b; rm -rf /",
    ]);
  });
});
