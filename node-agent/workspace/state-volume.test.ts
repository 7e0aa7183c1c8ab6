import { describe, expect, it } from "vitest";
import { homeOf, remoteUserOf, stateVolumeName, volumePrefix, withStateMount } from "./state-volume";

describe("a workspace's state volume", () => {
  it("is keyed by workspace, branch and trust level", () => {
    const k = { workspaceId: "w1", branch: "main", trusted: true };
    const names = new Set([
      stateVolumeName(k),
      stateVolumeName({ ...k, trusted: false }),
      stateVolumeName({ ...k, branch: "feature" }),
      stateVolumeName({ ...k, workspaceId: "w2" }),
    ]);
    expect(names.size).toBe(4);
    expect(stateVolumeName(k)).toMatch(/^berth-ws-w1-t[0-9a-f]{12}-home$/);
    expect(stateVolumeName(k).startsWith(volumePrefix(k))).toBe(true);
  });

  it("finds the remote user: the config, then the image's metadata, then its USER, then root", () => {
    const label = JSON.stringify([{ containerUser: "base" }, { remoteUser: "vscode" }, { id: "feature" }]);
    expect(remoteUserOf({ remoteUser: "dev" }, label, "x")).toBe("dev");
    expect(remoteUserOf({}, label, "x")).toBe("vscode");
    expect(remoteUserOf({}, JSON.stringify([{ containerUser: "base" }]), "x")).toBe("base");
    expect(remoteUserOf({}, undefined, "app:app")).toBe("app");
    expect(remoteUserOf({}, "not json", "")).toBe("root");
  });

  it("mounts the volume at the user's home, keeping the config's own mounts", () => {
    expect(homeOf("root")).toBe("/root");
    expect(homeOf("dev")).toBe("/home/dev");
    expect(homeOf("1000")).toBeUndefined();
    const c = withStateMount(
      { image: "i", mounts: ["source=x,target=/x,type=volume"] },
      "berth-ws-w1-home",
      "/home/dev",
    );
    expect(c.mounts).toEqual([
      "source=x,target=/x,type=volume",
      "source=berth-ws-w1-home,target=/home/dev,type=volume",
    ]);
  });
});
