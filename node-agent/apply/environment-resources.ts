// What an environment needs before Compose runs: its networks and its volumes (folders on the
// node, bound into Docker volumes). Compose itself only ever creates containers. The commands
// are compose/commands.ts's.
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { NodeExtras } from "../../contract/render/node-compose";
import { createEngineObject, engineObjectExists } from "../access/docker-api";
import * as commands from "../compose/commands";
import type { MountDisk } from "../disks/mount";
import { type DockerRunner, engineSocket } from "../docker";

/**
 * `mountDisk`: a volume on a cloud disk (its `disk` set) is mounted at the volume's folder first;
 * its data folder then lives on that disk.
 */
export async function ensureEnvironmentResources(
  docker: DockerRunner,
  extras: NodeExtras,
  mountDisk?: MountDisk,
): Promise<void> {
  const engine = engineResources(engineSocket(docker));
  const env = extras.environmentId;
  // Each network and volume is independent: checked (and made) at the same time.
  const networks = extras.networks.map(async (n) => {
    if (engine) return engine.ensureNetwork(n.name, env, n.internal === true);
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
    if (engine) return engine.ensureBoundVolume(v.name, v.device, env);
    const exists = await docker(commands.volumeExists(v.name), { allowFailure: true });
    if (exists.exitCode === 0) return;
    await docker(commands.createBoundVolume(v.name, v.device, env));
  });
  const results = await Promise.allSettled([...networks, ...volumes]);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
}

/**
 * The same networks and volumes made through the Engine API: a request of a few ms each, where
 * each `docker` CLI call (inspect, then create) is a process of ~0.1 s; a first release made
 * two per network and per volume.
 */
export interface EngineResources {
  ensureNetwork(name: string, environmentId: string, internal: boolean): Promise<void>;
  ensureBoundVolume(name: string, device: string, environmentId: string): Promise<void>;
}

/** Through the engine at `socket` (docker.ts's engineSocket); undefined without one (the CLI then). */
export function engineResources(socket: string | undefined): EngineResources | undefined {
  if (!socket) return undefined;
  const labels = (environmentId: string) => ({ "berth.environment": environmentId });
  return {
    async ensureNetwork(name, environmentId, internal) {
      if (await engineObjectExists(socket, "networks", name)) return;
      await createEngineObject(socket, "networks", {
        Name: name,
        Driver: "bridge",
        Labels: labels(environmentId),
        ...(internal ? { Internal: true } : {}),
        CheckDuplicate: true,
      });
    },
    async ensureBoundVolume(name, device, environmentId) {
      if (await engineObjectExists(socket, "volumes", name)) return;
      await createEngineObject(socket, "volumes", {
        Name: name,
        Driver: "local",
        DriverOpts: { type: "none", o: "bind", device },
        Labels: labels(environmentId),
      });
    },
  };
}

/** Removes an environment's networks (volumes and their data are kept). */
export async function removeEnvironmentNetworks(docker: DockerRunner, extras: NodeExtras): Promise<void> {
  for (const n of extras.networks) await docker(commands.removeNetwork(n.name), { allowFailure: true });
}
