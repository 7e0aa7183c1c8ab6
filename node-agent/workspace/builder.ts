// The isolated builder for untrusted workspaces: a BuildKit container (`docker buildx create
// --driver docker-container`) instead of the builder inside Docker's daemon. Its buildkitd runs
// in a container of its own: no folder of the node is mounted in it, it sits on a bridge network
// of its own (never the host's; the metadata service is rejected there like everywhere), and its
// CPU and memory are bounded by the workspace limits. The devcontainer CLI uses it through
// BUILDX_BUILDER; the image is loaded into the engine (`--load`) for `devcontainer up`.
// Commands as data; the executor makes the builder on first use.
import type { WorkspaceLimits } from "../../contract/workspace/declaration";
import type { Command } from "./commands";

export interface IsolatedBuilder {
  /** The buildx builder's name (its container is buildx_buildkit_<name>0). */
  name: string;
  /** A BuildKit image the engine has (moby/buildkit, or one built from buildkitd; see setup). */
  image: string;
  /** The bridge network its container joins. */
  network: string;
  /** A buildkitd.toml (registry mirrors: a registry on the node's loopback is not reachable from the network). */
  configFile?: string;
}

const docker = (...args: string[]): Command => ({ file: "docker", args });

export const inspectBuilder = (b: IsolatedBuilder): Command => docker("buildx", "inspect", b.name);
export const inspectNetwork = (b: IsolatedBuilder): Command => docker("network", "inspect", b.network);
export const createNetwork = (b: IsolatedBuilder): Command =>
  docker("network", "create", "--driver", "bridge", "--label", "berth.builder=true", b.network);

export function createBuilder(b: IsolatedBuilder, l: Required<WorkspaceLimits>): Command {
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
    ...opt("cpu-period=100000"),
    ...opt(`cpu-quota=${Math.round(l.cpus * 100_000)}`),
    ...(b.configFile ? ["--config", b.configFile] : []),
    "--bootstrap",
  );
}
