import { describe, expect, it } from "vitest";
import { NODE_DOCKERD_SETTINGS } from "./docker-daemon";
import {
  LAZY_SNAPSHOTTER,
  renderContainerdConfig,
  renderSnapshotterConfig,
  renderWorkspaceDaemonJson,
  snapshotterArgs,
} from "./lazy-pull";

const paths = {
  root: "/var/lib/containerd",
  state: "/run/containerd",
  address: "/run/containerd/containerd.sock",
  snapshotterAddress: "/run/berth-stargz/snapshotter.sock",
};

describe("a workspace node's lazy pulling settings", () => {
  it("dockerd: the node's settings, containerd's image store, the stargz snapshotter as storage driver", () => {
    expect(JSON.parse(renderWorkspaceDaemonJson(paths.address))).toEqual({
      ...NODE_DOCKERD_SETTINGS,
      containerd: paths.address,
      "storage-driver": "stargz",
      features: { "containerd-snapshotter": true },
    });
  });

  it("containerd: the snapshotter is a proxy plugin of the driver's name, and CRI is off", () => {
    const toml = renderContainerdConfig(paths);
    expect(toml).toContain("version = 2\n");
    expect(toml).toContain(
      `[proxy_plugins.${LAZY_SNAPSHOTTER}]\n  type = "snapshot"\n  address = "/run/berth-stargz/snapshotter.sock"\n`,
    );
    expect(toml).toContain('[grpc]\n  address = "/run/containerd/containerd.sock"\n');
    expect(toml).toContain('disabled_plugins = ["io.containerd.grpc.v1.cri"]');
  });

  it("refuses paths that are relative or would break the TOML, naming the setting", () => {
    expect(() => renderContainerdConfig({ ...paths, root: "var/lib" })).toThrow(
      /containerd's root must be an absolute path/,
    );
    expect(() => renderContainerdConfig({ ...paths, state: '/run/"x' })).toThrow(/cannot hold quotes/);
    expect(() => renderWorkspaceDaemonJson("containerd.sock")).toThrow(
      /containerd socket must be an absolute path/,
    );
  });

  it("the snapshotter: JSON settings, and no secret on its command line", () => {
    expect(JSON.parse(renderSnapshotterConfig())).toEqual({ no_prometheus: true });
    const args = snapshotterArgs({ address: "/s.sock", root: "/r", configFile: "/c.json" });
    expect(args).toEqual(["-address", "/s.sock", "-root", "/r", "-config", "/c.json"]);
  });
});
