// Lazy pulling on a workspace node: its dockerd keeps images in containerd's image store, with
// the stargz snapshotter (berth-stargz-snapshotter, tools/stargz) as the storage driver. An image
// whose layers are eStargz (the agent pushes workspace cache images so:
// node-agent/workspace/commands.ts) is then "pulled" by fetching its manifest, config and each
// layer's table of contents; the container starts at once and a file's bytes come from the
// registry on its first read, the rest in the background. An image with ordinary layers is
// unpacked as by overlay2. Deployment nodes keep Docker's overlay2 (contract/node/docker-daemon.ts).
// Pure: the settings are data; bench:devcontainer and the tests' "fresh workspace node" engine
// (test/system/support/second-engine.ts) start their containerd, snapshotter and dockerd from them.
import { DOCKER_DAEMON_JSON_PATH, NODE_DOCKERD_SETTINGS } from "./docker-daemon";

/** The snapshotter's name in containerd (a proxy plugin) and dockerd's storage driver. */
export const LAZY_SNAPSHOTTER = "stargz";

/** The snapshotter's program, built by scripts/setup/stargz.sh. */
export const LAZY_SNAPSHOTTER_BIN = "berth-stargz-snapshotter";

/**
 * A workspace node's dockerd settings, as daemon.json keys: the node's, plus the image store.
 * Without a socket dockerd's own flag names containerd (Debian's docker.service passes
 * `--containerd=/run/containerd/containerd.sock`, and dockerd refuses a setting given twice).
 */
export function workspaceDockerdSettings(containerdSocket?: string) {
  if (containerdSocket !== undefined && !containerdSocket.startsWith("/"))
    throw new Error(`the containerd socket must be an absolute path, got "${containerdSocket}"`);
  return {
    ...NODE_DOCKERD_SETTINGS,
    ...(containerdSocket !== undefined ? { containerd: containerdSocket } : {}),
    "storage-driver": LAZY_SNAPSHOTTER,
    features: { "containerd-snapshotter": true },
  };
}

/** A workspace node's daemon.json. */
export function renderWorkspaceDaemonJson(containerdSocket?: string): string {
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

// ---- On a cloud workspace node (systemd, Debian's containerd and docker.io) ---------------------
// The stargz tools' installer in the node's user data (components/deployment-node/
// stargz-installer.ts) writes these files only once the tools verified and installed; a node
// whose install was refused keeps Debian's containerd config and the node's plain daemon.json.

/** Where a cloud workspace node keeps the lazy-pulling parts. */
export const NODE_LAZY_PULL = {
  snapshotterBin: `/usr/local/bin/${LAZY_SNAPSHOTTER_BIN}`,
  /** The agent's push finds it on its PATH (node-agent/workspace/commands.ts). */
  estargzBin: "/usr/local/bin/berth-estargz",
  snapshotterRoot: "/var/lib/berth-stargz",
  snapshotterSocket: "/run/berth-stargz/stargz.sock",
  snapshotterConfig: "/etc/berth/stargz.json",
  /**
   * The snapshotter's Docker config folder (registry logins; mode 0700), on /run's tmpfs: a login
   * put there is never on the node's disk and is gone at a reboot.
   */
  snapshotterDockerConfig: "/run/berth-stargz/auth",
  containerdConfig: "/etc/containerd/config.toml",
  unitName: "berth-stargz-snapshotter.service",
  unitPath: "/etc/systemd/system/berth-stargz-snapshotter.service",
  /** What the installer decided (JSON: `{ lazyPull: "on" | "off", reason?, build?, arch }`). */
  outcome: "/var/lib/berth/lazy-pull.json",
} as const;

/** The snapshotter's unit: up before containerd, which dials it as a proxy plugin. */
export function renderSnapshotterUnit(): string {
  const n = NODE_LAZY_PULL;
  return [
    "[Unit]",
    "Description=berth stargz snapshotter (lazy pulling of workspace images)",
    "Before=containerd.service",
    "Wants=network-online.target",
    "After=network-online.target",
    "",
    "[Service]",
    "Type=simple",
    // The layers are FUSE mounts; the module is built into Debian's cloud kernels or loadable.
    "ExecStartPre=-/sbin/modprobe fuse",
    `ExecStartPre=/bin/mkdir -p -m 0700 ${n.snapshotterDockerConfig}`,
    `Environment=DOCKER_CONFIG=${n.snapshotterDockerConfig}`,
    `ExecStart=${[n.snapshotterBin, ...snapshotterArgs({ address: n.snapshotterSocket, root: n.snapshotterRoot, configFile: n.snapshotterConfig })].join(" ")}`,
    "Restart=always",
    "RestartSec=2",
    // Its FUSE mounts hold running workspaces' files: stop it last, after dockerd and containerd.
    "TimeoutStopSec=30",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "RequiredBy=containerd.service",
    "",
  ].join("\n");
}

/** The files a lazy workspace node gets, in the order they are written. */
export function nodeLazyPullFiles(): { path: string; mode: number; content: string }[] {
  const n = NODE_LAZY_PULL;
  return [
    { path: n.snapshotterConfig, mode: 0o644, content: renderSnapshotterConfig() },
    { path: n.unitPath, mode: 0o644, content: renderSnapshotterUnit() },
    {
      path: n.containerdConfig,
      mode: 0o644,
      content: renderContainerdConfig({
        root: "/var/lib/containerd",
        state: "/run/containerd",
        address: "/run/containerd/containerd.sock",
        snapshotterAddress: n.snapshotterSocket,
      }),
    },
    // dockerd last: written, it needs the snapshotter.
    { path: DOCKER_DAEMON_JSON_PATH, mode: 0o644, content: renderWorkspaceDaemonJson() },
  ];
}
