import { describe, expect, it } from "vitest";
import { policyResource, stackViolations } from "./testing";
import { HCLOUD_SERVER, HCLOUD_VOLUME_ATTACHMENT, volumesInNodeLocation } from "./volume-location";
import { HCLOUD_VOLUME } from "./volumes-protected";

describe("berth-volumes-in-node-location", () => {
  const server = policyResource(HCLOUD_SERVER, "node-a", { location: "fsn1", serverType: "cx22" });

  it("flags an hcloud volume attached to a server in another location", async () => {
    const volume = policyResource(HCLOUD_VOLUME, "data", { location: "nbg1", size: 10 });
    const attachment = policyResource(
      HCLOUD_VOLUME_ATTACHMENT,
      "data-attachment",
      {},
      {
        propertyDependencies: { volumeId: [volume], serverId: [server] },
      },
    );
    expect(await stackViolations(volumesInNodeLocation, [server, volume, attachment])).toEqual([
      "volume 'data' is in location nbg1 but its node 'node-a' is in fsn1: a volume attaches only to a server in its own location; create it in fsn1",
    ]);
  });

  it("passes a volume in the server's location (also through a datacenter name, or the volume's serverId)", async () => {
    const volume = policyResource(HCLOUD_VOLUME, "data", { location: "fsn1" });
    const attachment = policyResource(
      HCLOUD_VOLUME_ATTACHMENT,
      "att",
      {},
      {
        propertyDependencies: { volumeId: [volume], serverId: [server] },
      },
    );
    expect(await stackViolations(volumesInNodeLocation, [server, volume, attachment])).toEqual([]);
    const dcServer = policyResource(HCLOUD_SERVER, "node-b", { datacenter: "fsn1-dc14" });
    const direct = policyResource(
      HCLOUD_VOLUME,
      "logs",
      { location: "fsn1" },
      { propertyDependencies: { serverId: [dcServer] } },
    );
    expect(await stackViolations(volumesInNodeLocation, [dcServer, direct])).toEqual([]);
  });

  it("flags a Scaleway block volume in another zone than the server it is attached to", async () => {
    const volume = policyResource("scaleway:block/volume:Volume", "data", { zone: "fr-par-2" });
    const sw = policyResource(
      "scaleway:instance/server:Server",
      "node-s",
      { zone: "fr-par-1", type: "DEV1-S" },
      {
        propertyDependencies: { additionalVolumeIds: [volume] },
      },
    );
    expect(await stackViolations(volumesInNodeLocation, [volume, sw])).toEqual([
      expect.stringContaining("volume 'data' is in zone fr-par-2 but its node 'node-s' is in fr-par-1"),
    ]);
    const ok = policyResource("scaleway:block/volume:Volume", "data", { zone: "fr-par-1" });
    const sw2 = policyResource(
      "scaleway:instance/server:Server",
      "node-s",
      { zone: "fr-par-1" },
      {
        propertyDependencies: { additionalVolumeIds: [ok] },
      },
    );
    expect(await stackViolations(volumesInNodeLocation, [ok, sw2])).toEqual([]);
  });
});
