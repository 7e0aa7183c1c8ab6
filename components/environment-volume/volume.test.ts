import { beforeAll, describe, expect, it } from "vitest";
import { type Recorded, setCloudMocks, settle, value } from "../deployment-node/mocks";
import { cloudVolumeName, createHcloudVolume, createScalewayVolume } from "./cloud-volume";
import { checkVolume, VolumeLimitError } from "./limits";
import { type SizeGuardInputs, volumeSizeGuardProvider } from "./size-guard";

describe("checkVolume", () => {
  const ok = {
    provider: "hcloud" as const,
    sizeGb: 10,
    nodeLocation: "fsn1",
    volumeLocation: "fsn1",
    countOnNode: 1,
  };
  it("accepts what the providers accept", () => {
    expect(() => checkVolume(ok)).not.toThrow();
    expect(() => checkVolume({ ...ok, sizeGb: 10_000, countOnNode: 16 })).not.toThrow();
    expect(() =>
      checkVolume({
        ...ok,
        provider: "scaleway",
        sizeGb: 1,
        countOnNode: 15,
        nodeLocation: "fr-par-1",
        volumeLocation: "fr-par-1",
      }),
    ).not.toThrow();
    expect(() => checkVolume({ ...ok, sizeGb: 20, previousSizeGb: 20 })).not.toThrow();
  });
  it("refuses sizes, counts, locations and shrinks with clear words", () => {
    expect(() => checkVolume({ ...ok, sizeGb: 9 }, "db")).toThrow(
      /db: sizeGb: 9 GB is outside Hetzner volume sizes \(10–10,000 GB/,
    );
    expect(() => checkVolume({ ...ok, provider: "scaleway", sizeGb: 10_001 })).toThrow(
      /Scaleway block volume sizes \(1–10,000 GB/,
    );
    expect(() => checkVolume({ ...ok, countOnNode: 17 })).toThrow(
      /17 volumes; Hetzner allows at most 16 per server/,
    );
    expect(() => checkVolume({ ...ok, provider: "scaleway", countOnNode: 16 })).toThrow(
      /at most 15 per server/,
    );
    expect(() => checkVolume({ ...ok, volumeLocation: "nbg1" })).toThrow(
      /location: the volume is in nbg1 but its node is in fsn1/,
    );
    expect(() => checkVolume({ ...ok, sizeGb: 10, previousSizeGb: 50 })).toThrow(
      /smaller than the volume's current 50 GB; volumes only grow/,
    );
    expect(() => checkVolume({ ...ok, sizeGb: 10.5 })).toThrow(VolumeLimitError);
  });
});

describe("the size guard (the dynamic provider, called directly)", () => {
  const news = (sizeGb: number): SizeGuardInputs => ({
    volume: "berth-prod-db",
    sizeGb,
    berthKind: "volume-size-guard",
    berthProviderVersion: "1",
  });
  it("fails check (so the preview) on a shrink, passes a grow and a first create", async () => {
    const check = volumeSizeGuardProvider.check!;
    expect((await check({}, news(10))).failures).toEqual([]);
    expect((await check(news(10), news(20))).failures).toEqual([]);
    const r = await check(news(20), news(10));
    expect(r.failures?.[0]?.property).toBe("sizeGb");
    expect(r.failures?.[0]?.reason).toMatch(/volume berth-prod-db: 10 GB is smaller than its current 20 GB/);
  });
  it("diffs on size; creates, updates and deletes without side effects", async () => {
    const p = volumeSizeGuardProvider;
    expect((await p.diff!("id", news(10), news(10))).changes).toBe(false);
    expect((await p.diff!("id", news(10), news(20))).changes).toBe(true);
    expect((await p.create!(news(10))).outs).toMatchObject({ sizeGb: 10 });
    expect((await p.update!("id", news(10), news(20))).outs).toMatchObject({ sizeGb: 20 });
    await p.delete!("id", news(20));
  });
});

describe("cloud volumes (mocks)", () => {
  let created: Recorded[];
  beforeAll(() => {
    created = setCloudMocks();
  });
  const find = (type: string, name: string) => created.find((r) => r.type === type && r.name === name);

  it("hcloud: a volume in the node's location, attached to the node's server", async () => {
    const v = createHcloudVolume("prod-db", {
      environmentId: "prod",
      volumeName: "db_data",
      sizeGb: 20,
      nodeLocation: "nbg1",
      countOnNode: 1,
      serverId: "4242",
    });
    await value(v.volume.id);
    await settle();
    expect(find("hcloud:index/volume:Volume", "prod-db-volume")?.inputs).toMatchObject({
      name: "berth-prod-db-data",
      size: 20,
      location: "nbg1",
      labels: { "berth-environment": "prod", "berth-volume": "db_data" },
    });
    expect(
      find("hcloud:index/volumeAttachment:VolumeAttachment", "prod-db-attachment")?.inputs,
    ).toMatchObject({
      serverId: 4242,
      volumeId: Number(await value(v.volume.id)),
      automount: false,
    });
    expect(find("pulumi-nodejs:dynamic:Resource", "prod-db-size-guard")?.inputs).toMatchObject({
      sizeGb: 20,
    });
  });

  it("scaleway: a block volume in the node's zone", async () => {
    const v = createScalewayVolume("prod-files", {
      environmentId: "prod",
      volumeName: "files",
      sizeGb: 5,
      nodeLocation: "pl-waw-2",
      countOnNode: 2,
    });
    await value(v.volume.id);
    await settle();
    expect(find("scaleway:block/volume:Volume", "prod-files-volume")?.inputs).toMatchObject({
      name: "berth-prod-files",
      sizeInGb: 5,
      zone: "pl-waw-2",
      iops: 5000,
    });
  });

  it("refuses a volume outside the node's location before declaring anything", () => {
    const before = created.length;
    expect(() =>
      createHcloudVolume("bad", {
        environmentId: "prod",
        volumeName: "x",
        sizeGb: 5,
        nodeLocation: "fsn1",
        volumeLocation: "hel1",
        countOnNode: 1,
        serverId: "1",
      }),
    ).toThrow(/bad: sizeGb: 5 GB is outside[\s\S]*bad: location: the volume is in hel1/);
    expect(created.length).toBe(before);
  });

  it("names volumes within the providers' limits", () => {
    expect(cloudVolumeName("prod", "DB data")).toBe("berth-prod-db-data");
    expect(cloudVolumeName("e".repeat(60), "v").length).toBeLessThanOrEqual(63);
  });
});
