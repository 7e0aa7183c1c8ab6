// The volume orders of a node group and the holders' word on them (contract/swarm/volumes.ts).
import { describe, expect, it } from "vitest";
import { generateSigningKeyPair } from "../payload";
import {
  holderReadiness,
  placementOf,
  signVolumeOrder,
  VolumeOrderError,
  verifyVolumeOrder,
  volumeHolders,
  volumeOrderKey,
} from "./volumes";

const leader = generateSigningKeyPair();
const volumes = [
  { name: "data", node: "web-2", disk: "/dev/disk/by-id/scsi-0HC_Volume_1" },
  { name: "cache", node: "web-1" },
];
const expectFor = { group: "web", environmentId: "shop", leaderStatusKey: leader.publicKey };

describe("volume orders", () => {
  it("verify against the leader's key, for their group and environment", () => {
    const text = signVolumeOrder(
      { group: "web", environmentId: "shop", sequence: 4, volumes },
      leader.privateKey,
    );
    const o = verifyVolumeOrder(text, expectFor);
    expect(o.volumes).toEqual(volumes);
    expect(o.sequence).toBe(4);
    expect(volumeOrderKey("web", "shop")).toBe("swarm/web/volumes/shop.json");
    expect(volumeHolders(volumes)).toEqual(["web-1", "web-2"]);
    expect(() => verifyVolumeOrder(text, { ...expectFor, environmentId: "blog" })).toThrow(
      /the order is shop's in group web/,
    );
  });

  it("a channel writer's order (another key) is refused", () => {
    const writer = generateSigningKeyPair();
    const text = signVolumeOrder(
      {
        group: "web",
        environmentId: "shop",
        sequence: 9,
        volumes: [{ name: "data", node: "web-2", disk: "/dev/sdz" }],
      },
      writer.privateKey,
    );
    expect(() => verifyVolumeOrder(text, expectFor)).toThrow(VolumeOrderError);
    expect(() => verifyVolumeOrder(text, expectFor)).toThrow(/not by the leader's key/);
  });

  it("an older order is refused once a node acted on a newer one", () => {
    const text = signVolumeOrder(
      { group: "web", environmentId: "shop", sequence: 2, volumes },
      leader.privateKey,
    );
    expect(() => verifyVolumeOrder(text, { ...expectFor, floor: { sequence: 3, withdrawn: false } })).toThrow(
      /release 2 is below release 3/,
    );
  });

  it("a disk that is not a device path under /dev is refused", () => {
    expect(() =>
      signVolumeOrder(
        {
          group: "web",
          environmentId: "shop",
          sequence: 2,
          volumes: [{ name: "data", node: "web-2", disk: "/etc/x" }],
        },
        leader.privateKey,
      ),
    ).toThrow(/device path under \/dev/);
  });

  it("the same placement in any order is the same; another node or disk is not", () => {
    expect(placementOf([...volumes].reverse())).toBe(placementOf(volumes));
    expect(
      placementOf([
        { ...volumes[0], node: "web-3" } as (typeof volumes)[0],
        volumes[1] as (typeof volumes)[1],
      ]),
    ).not.toBe(placementOf(volumes));
  });
});

describe("a holder's word", () => {
  const status = (heldVolumes?: { sequence: number; ready: string[]; problem?: string }) => ({
    formatVersion: 1 as const,
    nodeId: "web-2",
    environmentId: "shop",
    state: "applied" as const,
    services: [],
    updatedAt: "",
    ...(heldVolumes ? { heldVolumes } : {}),
  });
  const ask = { holder: "web-2", sequence: 5, volumes: ["data"] };

  it("counts only for this release, with every volume ready", () => {
    expect(holderReadiness(status({ sequence: 5, ready: ["data"] }), ask)).toEqual({ ready: true });
    expect(holderReadiness(undefined, ask)).toEqual({
      ready: false,
      why: "web-2 has not said its volumes are ready",
    });
    expect(holderReadiness(status(), ask).ready).toBe(false);
  });

  it("a word on an older release (a replay) does not count", () => {
    expect(holderReadiness(status({ sequence: 4, ready: ["data"] }), ask)).toEqual({
      ready: false,
      why: "web-2 has not yet read release 5's volume order (its word is for release 4)",
    });
  });

  it("a volume not ready is named with the holder's problem", () => {
    expect(
      holderReadiness(
        status({ sequence: 5, ready: [], problem: "data: volume disk /dev/sdb did not appear" }),
        ask,
      ),
    ).toEqual({ ready: false, why: "web-2: data not ready: data: volume disk /dev/sdb did not appear" });
  });
});
