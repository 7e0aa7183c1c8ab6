// The node's own check of a verified release's rendered file, before Compose sees it: the
// isolation rules (contract/compose/isolation.ts: no privileged, no host namespaces, no bind
// mounts, only this environment's networks and volumes, ports on 127.0.0.1 only — the loader's
// own rules and messages, one truth) plus what only the node can check in `x-berth`: every
// volume's folder is the one berth renders under the node's volume root (a folder elsewhere,
// say /var/run, bound into a "named volume" would be a bind mount of the node, Docker's socket
// included), and the networks and volumes it makes are this environment's.
import { checkNodeCompose } from "../compose/isolation";
import { mentionsDockerSocket } from "../compose/remote";
import { networkName, volumeDevice, volumeName } from "./node-compose";
import type { NodeExtras } from "./node-extras";

export interface NodeCheckOptions {
  /** The node's volume root (the agent config's `volumeRoot`). */
  volumeRoot: string;
}

/** Problems of the `x-berth` extras (`x-berth.<path>: reason`); empty when they may be acted on. */
export function checkNodeExtras(extras: NodeExtras, o: NodeCheckOptions): string[] {
  const out: string[] = [];
  const env = extras.environmentId;
  const net = networkName(env, "default");
  extras.networks.forEach((n, i) => {
    if (n.name !== net && !n.name.startsWith(`${net}_`))
      out.push(`x-berth.networks[${i}]: ${n.name} is not a network of environment ${env} (${net}…)`);
  });
  const prefix = volumeName(env, "");
  extras.volumes.forEach((v, i) => {
    const at = `x-berth.volumes[${i}]`;
    if (!v.name.startsWith(prefix) || v.name.length === prefix.length) {
      out.push(`${at}: ${v.name} is not a volume of environment ${env} (${prefix}…)`);
      return;
    }
    const want = volumeDevice(o.volumeRoot, env, v.name.slice(prefix.length));
    if (v.device !== want)
      out.push(
        `${at}.device: ${v.device} is not the volume's folder under the node's volume root (${want}): it would bind a folder of the node into the container${mentionsDockerSocket(v.device) ? ", the Docker socket's" : ""}`,
      );
  });
  return out;
}

/** Everything the node refuses in a rendered file: the isolation rules, then the extras. */
export function checkRenderedRelease(doc: unknown, extras: NodeExtras, o: NodeCheckOptions): string[] {
  return [...checkNodeCompose(doc, extras.environmentId), ...checkNodeExtras(extras, o)];
}
