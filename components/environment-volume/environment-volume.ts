// EnvironmentVolume: the storage behind one named Compose volume of an environment. Thin: hcloud
// (Volume + VolumeAttachment) and Scaleway (block volume, attached through the node's server)
// delegate to cloud-volume.ts, whose checks (size, count per server, same location, grow only)
// run before anything is declared; `local` is a folder of this machine.
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { LOCAL_FOLDER_PROVIDER_VERSION, localFolderProvider } from "../release-channel/local-folder-provider";
import {
  cloudVolumeName,
  createHcloudVolume,
  createScalewayVolume,
  type HcloudVolumeArgs,
  type ScalewayVolumeArgs,
} from "./cloud-volume";

export interface LocalVolumeArgs {
  environmentId: string;
  volumeName: string;
  /** The local node's volume root (absolute). */
  volumeRoot: string;
}

export type EnvironmentVolumeArgs =
  | ({ provider: "hcloud" } & HcloudVolumeArgs)
  | ({ provider: "scaleway" } & ScalewayVolumeArgs)
  | ({ provider: "local" } & LocalVolumeArgs);

/** The folder the agent uses for a volume: <volumeRoot>/berth-env-<env>/volumes/<name> (contract/render). */
export function localVolumePath(a: LocalVolumeArgs): string {
  return path.join(a.volumeRoot, `berth-env-${a.environmentId}`, "volumes", a.volumeName);
}

class LocalVolumeFolder extends pulumi.dynamic.Resource {
  constructor(name: string, folder: string, opts?: pulumi.CustomResourceOptions) {
    super(
      localFolderProvider,
      name,
      {
        path: folder,
        berthKind: "environment-volume",
        berthProviderVersion: LOCAL_FOLDER_PROVIDER_VERSION,
        url: undefined,
      },
      opts,
    );
  }
}

export class EnvironmentVolume extends pulumi.ComponentResource {
  readonly provider: EnvironmentVolumeArgs["provider"];
  /** The cloud volume's id, or the local folder. */
  readonly volumeId: pulumi.Output<string>;
  /** Hetzner location, Scaleway zone, or "local". */
  readonly location: string;
  /** berth-<env>-<volume> (cloud), the folder (local). */
  readonly volumeName: string;
  readonly sizeGb?: number;
  /** The cloud volume (or the local folder's resource). */
  readonly volume: pulumi.CustomResource;
  /** hcloud: the device the volume appears as on the server. */
  readonly linuxDevice?: pulumi.Output<string>;
  /** The Compose volume it backs. */
  readonly composeVolume: string;
  /**
   * Cloud: the stable device path of the attached volume on the node, which the agent formats
   * (only when blank) and mounts at the volume's folder.
   */
  readonly device?: pulumi.Output<string>;

  constructor(name: string, args: EnvironmentVolumeArgs, opts?: pulumi.ComponentResourceOptions) {
    super("berth:index:EnvironmentVolume", name, {}, opts);
    this.provider = args.provider;
    this.composeVolume = args.volumeName;
    if (args.provider === "local") {
      const folder = localVolumePath(args);
      if (!path.isAbsolute(args.volumeRoot))
        throw new pulumi.RunError(`${name}: volumeRoot must be an absolute path`);
      const r = new LocalVolumeFolder(`${name}-folder`, folder, { parent: this });
      this.volumeId = r.id;
      this.volume = r;
      this.location = "local";
      this.volumeName = folder;
    } else if (args.provider === "hcloud") {
      const { provider: _p, ...a } = args;
      const v = createHcloudVolume(name, a, this);
      this.volumeId = v.volumeId;
      this.volume = v.volume;
      this.location = v.location;
      this.volumeName = cloudVolumeName(a.environmentId, a.volumeName);
      this.sizeGb = a.sizeGb;
      this.linuxDevice = v.linuxDevice;
      this.device = v.linuxDevice;
    } else {
      const { provider: _p, ...a } = args;
      const v = createScalewayVolume(name, a, this);
      this.volumeId = v.volumeId;
      this.volume = v.volume;
      this.location = v.zone;
      this.volumeName = cloudVolumeName(a.environmentId, a.volumeName);
      this.sizeGb = a.sizeGb;
      this.device = v.volumeId.apply(scalewayDevicePath);
    }
    this.registerOutputs({
      volumeId: this.volumeId,
      location: this.location,
      volumeName: this.volumeName,
      sizeGb: this.sizeGb,
      linuxDevice: this.linuxDevice,
      device: this.device,
    });
  }
}

/**
 * Where a Scaleway Block Storage volume appears on its Instance: /dev/disk/by-id/
 * scsi-0SCW_sbs_volume-<uuid> (the volume id without its zone, `fr-par-1/<uuid>`).
 */
export function scalewayDevicePath(volumeId: string): string {
  return `/dev/disk/by-id/scsi-0SCW_sbs_volume-${volumeId.split("/").pop()}`;
}
