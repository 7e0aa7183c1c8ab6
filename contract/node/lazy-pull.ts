// Lazy pulling on a workspace node: its dockerd keeps images in containerd's image store, with
// the stargz snapshotter (berth-stargz-snapshotter, tools/stargz) as the storage driver. An image
// whose layers are eStargz (the agent pushes workspace cache images so:
// node-agent/workspace/commands.ts) is then "pulled" by fetching its manifest, config and each
// layer's table of contents; the container starts at once and a file's bytes come from the
// registry on its first read, the rest in the background. An image with ordinary layers is
// unpacked as by overlay2. Deployment nodes keep Docker's overlay2 (contract/node/docker-daemon.ts).
// Pure: the settings are data; bench:devcontainer and the tests' "fresh workspace node" engine
// (test/system/support/second-engine.ts) start their containerd, snapshotter and dockerd from them.
import { NODE_DOCKERD_SETTINGS } from "./docker-daemon";

/** The snapshotter's name in containerd (a proxy plugin) and dockerd's storage driver. */
export const LAZY_SNAPSHOTTER = "stargz";

/** The snapshotter's program, built by scripts/setup/stargz.sh. */
export const LAZY_SNAPSHOTTER_BIN = "berth-stargz-snapshotter";

/** A workspace node's dockerd settings, as daemon.json keys: the node's, plus the image store. */
export function workspaceDockerdSettings(containerdSocket: string) {
  if (!containerdSocket.startsWith("/"))
    throw new Error(`the containerd socket must be an absolute path, got "${containerdSocket}"`);
  return {
    ...NODE_DOCKERD_SETTINGS,
    containerd: containerdSocket,
    "storage-driver": LAZY_SNAPSHOTTER,
    features: { "containerd-snapshotter": true },
  };
}

/** A workspace node's daemon.json. */
export function renderWorkspaceDaemonJson(containerdSocket: string): string {
  return `${JSON.stringify(workspaceDockerdSettings(containerdSocket), null, 2)}\n`;
}

export interface ContainerdPaths {
  root: string;
  state: string;
  /** containerd's gRPC socket (dockerd's `containerd` setting). */
  address: string;
  /** The snapshotter's gRPC socket. */
  snapshotterAddress: string;
}

const tomlString = (s: string) => {
  if (/["\\\n]/.test(s))
    throw new Error(`a containerd path cannot hold quotes, backslashes or newlines: ${s}`);
  return `"${s}"`;
};

/**
 * containerd's config (version 2, containerd 1.7) with the snapshotter as a proxy plugin. The CRI
 * plugin is off: dockerd is containerd's only client.
 */
export function renderContainerdConfig(p: ContainerdPaths): string {
  for (const [k, v] of Object.entries(p))
    if (!v.startsWith("/")) throw new Error(`containerd's ${k} must be an absolute path, got "${v}"`);
  return [
    "version = 2",
    `root = ${tomlString(p.root)}`,
    `state = ${tomlString(p.state)}`,
    'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
    "",
    "[grpc]",
    `  address = ${tomlString(p.address)}`,
    "",
    `[proxy_plugins.${LAZY_SNAPSHOTTER}]`,
    '  type = "snapshot"',
    `  address = ${tomlString(p.snapshotterAddress)}`,
    "",
  ].join("\n");
}

/**
 * The snapshotter's settings (JSON, stargz-snapshotter's keys). A layer is fetched in the
 * background once mounted (its default), so the files a workspace reads later are local by then.
 * A registry on a loopback address is reached over plain HTTP, as Docker does.
 */
export const LAZY_SNAPSHOTTER_SETTINGS = {
  // Metrics are not served (no listener is opened).
  no_prometheus: true,
} as const;

export const renderSnapshotterConfig = (): string =>
  `${JSON.stringify(LAZY_SNAPSHOTTER_SETTINGS, null, 2)}\n`;

/** The snapshotter's command line; registry credentials come from $DOCKER_CONFIG, never argv. */
export function snapshotterArgs(o: { address: string; root: string; configFile: string }): string[] {
  return ["-address", o.address, "-root", o.root, "-config", o.configFile];
}
