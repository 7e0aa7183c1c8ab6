// Cloud volumes of an environment: hcloud.Volume + hcloud.VolumeAttachment, or a Scaleway block
// volume (attached through the node's server: pass `volumeId` to createScalewayNode's
// `additionalVolumeIds`). Limits are checked before anything is declared; a size guard in front of
// each volume makes a shrink fail at preview.
import * as pulumi from "@pulumi/pulumi";
import { hcloudSdk, scalewaySdk } from "../cloud-sdks";
import { checkVolume } from "./limits";
import { VolumeSizeGuard } from "./size-guard";

export interface CloudVolumeArgs {
  environmentId: string;
  /** The volume's name inside the environment (Compose volume name). */
  volumeName: string;
  sizeGb: number;
  /** Where the node is (Hetzner location or Scaleway zone). */
  nodeLocation: string;
  /** Where the volume should be; defaults to the node's location. */
  volumeLocation?: string;
  /** How many berth volumes the node carries, this one included. */
  countOnNode: number;
  /** The size today when the caller knows it (the guard checks against state anyway). */
  previousSizeGb?: number;
  labels?: Record<string, string>;
}

export interface HcloudVolumeArgs extends CloudVolumeArgs {
  /** The node's server id (createHcloudNode().serverId). */
  serverId: pulumi.Input<string>;
  deleteProtection?: boolean;
}

export interface ScalewayVolumeArgs extends CloudVolumeArgs {
  /** IOPS tier of Scaleway block storage: 5000 or 15000. */
  iops?: 5000 | 15000;
  projectId?: string;
}

/** The cloud name of a volume: berth-<env>-<volume>, within the providers' 64-character limit. */
export function cloudVolumeName(environmentId: string, volumeName: string): string {
  const clean = volumeName
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "");
  return `berth-${environmentId}-${clean}`.slice(0, 63).replace(/-+$/, "");
}

export function createHcloudVolume(name: string, args: HcloudVolumeArgs, parent?: pulumi.Resource) {
  const location = args.volumeLocation ?? args.nodeLocation;
  checkVolume({ provider: "hcloud", ...args, volumeLocation: location }, name);
  const volumeName = cloudVolumeName(args.environmentId, args.volumeName);
  const guard = new VolumeSizeGuard(`${name}-size-guard`, volumeName, args.sizeGb, { parent });
  const volume = new (hcloudSdk().Volume)(
    `${name}-volume`,
    {
      name: volumeName,
      size: args.sizeGb,
      location,
      // The agent formats a blank disk (ext4) and mounts it by UUID; Hetzner's automount is off.
      labels: { ...args.labels, "berth-environment": args.environmentId, "berth-volume": args.volumeName },
      deleteProtection: args.deleteProtection ?? false,
    },
    { parent, dependsOn: [guard], protect: args.deleteProtection ?? false },
  );
  const attachment = new (hcloudSdk().VolumeAttachment)(
    `${name}-attachment`,
    {
      volumeId: volume.id.apply(Number),
      serverId: pulumi.output(args.serverId).apply(Number),
      automount: false,
    },
    { parent },
  );
  return { volume, attachment, guard, volumeId: volume.id, linuxDevice: volume.linuxDevice, location };
}

export function createScalewayVolume(name: string, args: ScalewayVolumeArgs, parent?: pulumi.Resource) {
  const zone = args.volumeLocation ?? args.nodeLocation;
  checkVolume({ provider: "scaleway", ...args, volumeLocation: zone }, name);
  const volumeName = cloudVolumeName(args.environmentId, args.volumeName);
  const guard = new VolumeSizeGuard(`${name}-size-guard`, volumeName, args.sizeGb, { parent });
  const volume = new (scalewaySdk().block.Volume)(
    `${name}-volume`,
    {
      name: volumeName,
      sizeInGb: args.sizeGb,
      iops: args.iops ?? 5000,
      zone,
      tags: [
        ...Object.entries(args.labels ?? {}).map(([k, v]) => `${k}=${v}`),
        `berth-environment=${args.environmentId}`,
        `berth-volume=${args.volumeName}`,
      ],
      ...(args.projectId ? { projectId: args.projectId } : {}),
    },
    { parent, dependsOn: [guard] },
  );
  return { volume, guard, volumeId: volume.id, zone };
}
