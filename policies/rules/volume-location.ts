// A volume can only be attached to a server in its own location (Hetzner) or zone (Scaleway).
// The links come from the stack's dependency graph, so they are known in a preview even when
// the ids are not: an hcloud VolumeAttachment (volumeId, serverId), an hcloud Volume's serverId,
// a Scaleway Server's additionalVolumeIds.
import type { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import { known } from "./berth-resources";
import { HCLOUD_VOLUME, SCALEWAY_VOLUMES } from "./volumes-protected";

export const HCLOUD_SERVER = "hcloud:index/server:Server";
export const HCLOUD_VOLUME_ATTACHMENT = "hcloud:index/volumeAttachment:VolumeAttachment";
export const SCALEWAY_SERVERS = [
  "scaleway:instance/server:Server",
  "scaleway:index/instanceServer:InstanceServer",
];

function prop(r: PolicyResource, key: string): string | undefined {
  const v = known(() => r.props[key]);
  return typeof v === "string" && v !== "" ? v : undefined;
}

/** An hcloud server's location: `location`, or the one its datacenter (`fsn1-dc14`) is in. */
function hcloudServerLocation(server: PolicyResource): string | undefined {
  return prop(server, "location") ?? prop(server, "datacenter")?.replace(/-dc\d+$/, "");
}

function depsOf(r: PolicyResource, key: string): PolicyResource[] {
  return r.propertyDependencies?.[key] ?? [];
}

export function volumeLocationProblems(resources: PolicyResource[]): string[] {
  const problems: string[] = [];
  const pairs: { volume: PolicyResource; server: PolicyResource }[] = [];
  for (const r of resources) {
    if (r.type === HCLOUD_VOLUME_ATTACHMENT) {
      for (const volume of depsOf(r, "volumeId").filter((v) => v.type === HCLOUD_VOLUME))
        for (const server of depsOf(r, "serverId").filter((s) => s.type === HCLOUD_SERVER))
          pairs.push({ volume, server });
    } else if (r.type === HCLOUD_VOLUME) {
      for (const server of depsOf(r, "serverId").filter((s) => s.type === HCLOUD_SERVER))
        pairs.push({ volume: r, server });
    } else if (SCALEWAY_SERVERS.includes(r.type)) {
      for (const volume of depsOf(r, "additionalVolumeIds").filter((v) => SCALEWAY_VOLUMES.includes(v.type)))
        pairs.push({ volume, server: r });
    }
  }
  const seen = new Set<string>();
  for (const { volume, server } of pairs) {
    const key = `${volume.urn} ${server.urn}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const hcloud = volume.type === HCLOUD_VOLUME;
    const where = hcloud ? "location" : "zone";
    const v = prop(volume, where);
    const s = hcloud ? hcloudServerLocation(server) : prop(server, "zone");
    if (v !== undefined && s !== undefined && v !== s) {
      problems.push(
        `volume '${volume.name}' is in ${where} ${v} but its node '${server.name}' is in ${s}: a volume attaches only to a server in its own ${where}; create it in ${s}`,
      );
    }
  }
  return problems;
}

export const volumesInNodeLocation: StackValidationPolicy = {
  name: "berth-volumes-in-node-location",
  description: "Every volume is in the location (Hetzner) or zone (Scaleway) of the node it is attached to.",
  enforcementLevel: "mandatory",
  validateStack: (args, reportViolation) => {
    for (const p of volumeLocationProblems(args.resources)) reportViolation(p);
  },
};
