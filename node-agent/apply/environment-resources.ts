// What an environment needs before Compose runs: its networks and its volumes (folders on the
// node, bound into Docker volumes). Compose itself only ever creates containers. The commands
// are compose/commands.ts's.
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { NodeExtras } from "../../contract/render/node-compose";
import * as commands from "../compose/commands";
import type { MountDisk } from "../disks/mount";
import type { DockerRunner } from "../docker";

/**
 * `mountDisk`: a volume on a cloud disk (its `disk` set) is mounted at the volume's folder first;
 * its data folder then lives on that disk.
 */
export async function ensureEnvironmentResources(
  docker: DockerRunner,
  extras: NodeExtras,
  mountDisk?: MountDisk,
): Promise<void> {
  const env = extras.environmentId;
  // Each network and volume is independent: checked (and made) at the same time.
  const networks = extras.networks.map(async (n) => {
    const exists = await docker(commands.networkExists(n.name), { allowFailure: true });
    if (exists.exitCode === 0) return;
    await docker(commands.createNetwork(n.name, env, { internal: n.internal }));
  });
  const volumes = extras.volumes.map(async (v) => {
    if (v.disk) {
      if (!mountDisk)
        throw new Error(`volume ${v.name} is on disk ${v.disk}, but this node does not mount disks`);
      await mountDisk(v.disk, dirname(v.device));
    }
    mkdirSync(v.device, { recursive: true, mode: 0o755 });
    const exists = await docker(commands.volumeExists(v.name), { allowFailure: true });
    if (exists.exitCode === 0) return;
    await docker(commands.createBoundVolume(v.name, v.device, env));
  });
  const results = await Promise.allSettled([...networks, ...volumes]);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
}

/** Removes an environment's networks (volumes and their data are kept). */
export async function removeEnvironmentNetworks(docker: DockerRunner, extras: NodeExtras): Promise<void> {
  for (const n of extras.networks) await docker(commands.removeNetwork(n.name), { allowFailure: true });
}
