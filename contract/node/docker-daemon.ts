// dockerd's settings on a berth node, in one place: cloud-init writes them as
// /etc/docker/daemon.json before the Docker package starts dockerd
// (components/deployment-node/cloud-init.ts), the local setup passes them as flags when it starts
// dockerd itself (scripts/setup/docker.sh), and bench:devcontainer starts its "fresh node" engine
// with them. Pure: the settings are data, tested as data.
//
// - max-concurrent-downloads: a pull fetches this many layers at once (Docker's default is 3).
//   A devcontainer image with Features has a layer per Feature; on a node whose registry is across
//   a network, more of them arrive side by side. Layers are still applied one after the other.

/** The settings, as daemon.json keys. */
export const NODE_DOCKERD_SETTINGS = { "max-concurrent-downloads": 8 } as const;

export const DOCKER_DAEMON_JSON_PATH = "/etc/docker/daemon.json";

/** /etc/docker/daemon.json on a node. */
export function renderDockerDaemonJson(): string {
  return `${JSON.stringify(NODE_DOCKERD_SETTINGS, null, 2)}\n`;
}

/** The same settings as dockerd's command-line flags. */
export function dockerdFlags(): string[] {
  return Object.entries(NODE_DOCKERD_SETTINGS).flatMap(([k, v]) => [`--${k}`, String(v)]);
}
