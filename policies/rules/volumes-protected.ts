// Deployment volumes hold the apps' data: deleting one by accident (a rename, a removed
// environment) must need a deliberate step. @pulumi/policy 1.21 shows a policy only the `protect`
// option (its resource options carry no retainOnDelete), so `protect: true` is what passes, or
// Hetzner's own deleteProtection on an hcloud volume.
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { known } from "./berth-resources";

export const HCLOUD_VOLUME = "hcloud:index/volume:Volume";
export const SCALEWAY_VOLUMES = [
  "scaleway:block/volume:Volume",
  "scaleway:instance/volume:Volume",
  "scaleway:index/blockVolume:BlockVolume",
  "scaleway:index/instanceVolume:InstanceVolume",
];

export const volumesProtected: ResourceValidationPolicy = {
  name: "berth-volumes-protected",
  description: "Deployment volumes are protected from deletion (protect, or deleteProtection on Hetzner).",
  enforcementLevel: "mandatory",
  validateResource: (args, reportViolation) => {
    const hcloud = args.type === HCLOUD_VOLUME;
    if (!hcloud && !SCALEWAY_VOLUMES.includes(args.type)) return;
    if (args.opts.protect) return;
    if (hcloud && known(() => args.props.deleteProtection) === true) return;
    reportViolation(
      `volume '${args.name}' can be deleted by a pulumi up: declare it with { protect: true }${hcloud ? " or deleteProtection: true" : ""} so its data outlives a rename or a removed environment`,
    );
  },
};
