// EnvironmentVolume under Pulumi mocks: hcloud, Scaleway and a local folder.
import { beforeAll, describe, expect, it } from "vitest";
import { type Recorded, setCloudMocks, settle, value } from "../deployment-node/mocks";
import { EnvironmentVolume } from "./environment-volume";

let created: Recorded[];
beforeAll(() => {
  created = setCloudMocks();
});
const find = (type: string, name: string) => created.find((r) => r.type === type && r.name === name);

describe("EnvironmentVolume", () => {
  it("hcloud: a volume in the node's location with delete protection, attached to the server", async () => {
    const v = new EnvironmentVolume("shop-db", {
      provider: "hcloud",
      environmentId: "shop",
      volumeName: "db_data",
      sizeGb: 40,
      nodeLocation: "fsn1",
      countOnNode: 3,
      serverId: "77",
      deleteProtection: true,
    });
    expect(v.location).toBe("fsn1");
    expect(v.volumeName).toBe("berth-shop-db-data");
    expect(await value(v.volume.urn)).toContain("berth:index:EnvironmentVolume$hcloud:index/volume:Volume");
    await settle();
    expect(find("hcloud:index/volume:Volume", "shop-db-volume")?.inputs).toMatchObject({
      size: 40,
      location: "fsn1",
      deleteProtection: true,
    });
    expect(
      find("hcloud:index/volumeAttachment:VolumeAttachment", "shop-db-attachment")?.inputs,
    ).toMatchObject({
      serverId: 77,
      automount: false,
    });
  });

  it("scaleway: a block volume in the node's zone with its IOPS tier", async () => {
    const v = new EnvironmentVolume("shop-files", {
      provider: "scaleway",
      environmentId: "shop",
      volumeName: "files",
      sizeGb: 1,
      nodeLocation: "pl-waw-3",
      countOnNode: 1,
      iops: 15000,
    });
    expect(await value(v.volumeId)).toMatch(/^fr-par-1\//);
    await settle();
    expect(find("scaleway:block/volume:Volume", "shop-files-volume")?.inputs).toMatchObject({
      sizeInGb: 1,
      zone: "pl-waw-3",
      iops: 15000,
    });
  });

  it("local: a folder where the agent keeps the volume", async () => {
    const v = new EnvironmentVolume("dev-data", {
      provider: "local",
      environmentId: "dev",
      volumeName: "data",
      volumeRoot: "/srv/berth/volumes",
    });
    expect(v.volumeName).toBe("/srv/berth/volumes/berth-env-dev/volumes/data");
    await settle();
    expect(find("pulumi-nodejs:dynamic:Resource", "dev-data-folder")?.inputs).toMatchObject({
      berthKind: "environment-volume",
      path: "/srv/berth/volumes/berth-env-dev/volumes/data",
    });
  });

  it("refuses a 17th volume on a Hetzner server and a shrink below the provider's minimum", () => {
    const base = {
      provider: "hcloud" as const,
      environmentId: "shop",
      volumeName: "x",
      nodeLocation: "fsn1",
      serverId: "1",
    };
    expect(() => new EnvironmentVolume("v17", { ...base, sizeGb: 10, countOnNode: 17 })).toThrow(
      /v17: the node would carry 17 volumes; Hetzner allows at most 16 per server/,
    );
    expect(() => new EnvironmentVolume("v5", { ...base, sizeGb: 5, countOnNode: 1 })).toThrow(
      /v5: sizeGb: 5 GB is outside Hetzner volume sizes/,
    );
  });
});
