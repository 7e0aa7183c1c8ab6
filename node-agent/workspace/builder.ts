// The isolated builder every untrusted build runs in: a BuildKit container of the workspace's own
// (`docker buildx create --driver docker-container`), never the builder inside Docker's daemon.
// - No folder of the node: buildkitd runs in a container with only its state volume; it cannot
//   read the engine's images either, so a Dockerfile's FROM and the --cache-from chain come
//   from registries.
// - No host network: the container sits on a bridge network (`berth-builds`), so the node's
//   loopback services are out of reach and the metadata service is rejected in DOCKER-USER as
//   for every container. A registry on the node's loopback (the local node's) is reached through
//   a mirror on that network's gateway (buildkitd.toml, `registry-forwarder.ts`); buildx hands
//   BuildKit the login of each host it contacts, so the build's Docker config holds the pull
//   login for the mirror's address too.
// - The workspace's limits: memory and CPU as driver options, pids by `docker update` (buildx
//   has no option for it); RUN steps run inside that container, so the limits hold for them.
// - Per workspace: its BuildKit cache is not shared with other workspaces; `down` removes it.
// buildx keeps its builders in BUILDX_CONFIG (a folder of the agent's state, no credentials),
// because each command's DOCKER_CONFIG is made for that command and removed.
// Commands and files as data; the executor runs them.
import type { WorkspaceLimits } from "../../contract/workspace/declaration";
import type { Command } from "./commands";

/** What the agent config says (contract/node/agent-config.ts). */
export interface BuilderSettings {
  /** The BuildKit image (buildx pulls it, or uses the engine's copy). */
  image: string;
  /** The bridge network every isolated builder joins. */
  network: string;
}

export interface IsolatedBuilder extends BuilderSettings {
  /** The buildx builder's name (its container is buildx_buildkit_<name>0). */
  name: string;
  /** buildx's own state (BUILDX_CONFIG). */
  buildxConfig: string;
}

export function isolatedBuilder(
  workspaceId: string,
  s: BuilderSettings,
  buildxConfig: string,
): IsolatedBuilder {
  return { ...s, name: `berth-builder-${workspaceId}`, buildxConfig };
}

/** The environment a build in the builder runs with (besides DOCKER_HOST, PATH, HOME, DOCKER_CONFIG). */
export function builderEnv(b: Pick<IsolatedBuilder, "name" | "buildxConfig">): Record<string, string> {
  return { BUILDX_BUILDER: b.name, BUILDX_CONFIG: b.buildxConfig };
}

export function builderContainer(b: Pick<IsolatedBuilder, "name">): string {
  return `buildx_buildkit_${b.name}0`;
}

const docker = (...args: string[]): Command => ({ file: "docker", args });

export const inspectBuilder = (b: IsolatedBuilder): Command => docker("buildx", "inspect", b.name);
/** Starts the builder's container when it is stopped (or gone). */
export const bootBuilder = (b: IsolatedBuilder): Command =>
  docker("buildx", "inspect", "--bootstrap", b.name);
export const removeBuilder = (b: IsolatedBuilder): Command => docker("buildx", "rm", b.name);
export const inspectNetwork = (b: BuilderSettings): Command => docker("network", "inspect", b.network);
export const createNetwork = (b: BuilderSettings): Command =>
  docker("network", "create", "--driver", "bridge", "--label", "berth.builder=true", b.network);
/** Prints the network's gateway addresses (the node's side of the bridge), one a line. */
export const networkGateways = (b: BuilderSettings): Command =>
  docker("network", "inspect", "--format", "{{range .IPAM.Config}}{{println .Gateway}}{{end}}", b.network);

export function createBuilder(
  b: IsolatedBuilder,
  l: Required<WorkspaceLimits>,
  configFile?: string,
): Command {
  const opt = (o: string) => ["--driver-opt", o];
  return docker(
    "buildx",
    "create",
    "--name",
    b.name,
    "--driver",
    "docker-container",
    ...opt(`image=${b.image}`),
    ...opt(`network=${b.network}`),
    ...opt(`memory=${l.memoryMb}m`),
    // No swap beyond the memory limit.
    ...opt(`memory-swap=${l.memoryMb}m`),
    ...opt("cpu-period=100000"),
    ...opt(`cpu-quota=${Math.round(l.cpus * 100_000)}`),
    // Not started again at the node's boot: the next build starts it (bootBuilder).
    ...opt("restart-policy=no"),
    ...(configFile ? ["--config", configFile] : []),
    "--bootstrap",
  );
}

/** The pids limit buildx cannot set: on the builder's container, so every RUN step counts. */
export const limitBuilderPids = (b: IsolatedBuilder, l: Required<WorkspaceLimits>): Command =>
  docker("update", "--pids-limit", String(l.pids), builderContainer(b));

/** A registry host on the node's own loopback, which a container cannot reach by that name. */
export function isLoopbackHost(host: string): boolean {
  const name = host.replace(/:\d+$/, "").replace(/^\[(.*)\]$/, "$1");
  return name === "localhost" || name === "::1" || /^127\.\d+\.\d+\.\d+$/.test(name);
}

export interface RegistryMirror {
  /** The registry as images name it (`127.0.0.1:5000`). */
  registry: string;
  /** Where the builder reaches it (`<gateway>:5000`). */
  mirror: string;
}

/** The mirror a builder needs for `registryHost`: only a loopback registry needs one. */
export function registryMirror(
  registryHost: string,
  gateway: string | undefined,
): RegistryMirror | undefined {
  if (!gateway || !isLoopbackHost(registryHost)) return undefined;
  const port = registryHost.match(/:(\d+)$/)?.[1] ?? "80";
  return { registry: registryHost, mirror: `${gateway}:${port}` };
}

/** buildkitd.toml: pulls of the registry go to its mirror, which speaks plain HTTP like it. */
export function buildkitdToml(m: RegistryMirror | undefined): string {
  if (!m) return "";
  return [
    `[registry."${m.registry}"]`,
    `  mirrors = ["${m.mirror}"]`,
    `  http = true`,
    `[registry."${m.mirror}"]`,
    `  http = true`,
    "",
  ].join("\n");
}

/** The hosts a build's Docker config holds its login for: BuildKit asks per host it contacts. */
export function loginHosts(registryHost: string, m: RegistryMirror | undefined): string[] {
  return m ? [registryHost, m.mirror] : [registryHost];
}
