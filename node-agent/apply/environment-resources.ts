// What an environment needs before Compose runs: its networks and its volumes (folders on the
// node, bound into Docker volumes). Compose itself only ever creates containers.
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { NodeExtras } from "../../contract/render/node-compose";
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
  const label = `berth.environment=${extras.environmentId}`;
  // Each network and volume is independent: checked (and made) at the same time.
  const networks = extras.networks.map(async (n) => {
    const exists = await docker(
      { file: "docker", args: ["network", "inspect", "--format", "{{.Name}}", n.name] },
      {
        allowFailure: true,
      },
    );
    if (exists.exitCode === 0) return;
    await docker({
      file: "docker",
      args: [
        "network",
        "create",
        "--driver",
        "bridge",
        "--label",
        label,
        ...(n.internal ? ["--internal"] : []),
        n.name,
      ],
    });
  });
  const volumes = extras.volumes.map(async (v) => {
    if (v.disk) {
      if (!mountDisk)
        throw new Error(`volume ${v.name} is on disk ${v.disk}, but this node does not mount disks`);
      await mountDisk(v.disk, dirname(v.device));
    }
    mkdirSync(v.device, { recursive: true, mode: 0o755 });
    const exists = await docker(
      { file: "docker", args: ["volume", "inspect", "--format", "{{.Name}}", v.name] },
      {
        allowFailure: true,
      },
    );
    if (exists.exitCode === 0) return;
    await docker({
      file: "docker",
      args: [
        "volume",
        "create",
        "--driver",
        "local",
        "--opt",
        "type=none",
        "--opt",
        "o=bind",
        "--opt",
        `device=${v.device}`,
        "--label",
        label,
        v.name,
      ],
    });
  });
  const results = await Promise.allSettled([...networks, ...volumes]);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
}

/** Removes an environment's networks (volumes and their data are kept). */
export async function removeEnvironmentNetworks(docker: DockerRunner, extras: NodeExtras): Promise<void> {
  for (const n of extras.networks) {
    await docker({ file: "docker", args: ["network", "rm", n.name] }, { allowFailure: true });
  }
}
