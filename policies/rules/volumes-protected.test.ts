import { describe, expect, it } from "vitest";
import { resourceArgs, violations } from "./testing";
import { HCLOUD_VOLUME, volumesProtected } from "./volumes-protected";

const BLOCK = "scaleway:block/volume:Volume";

describe("berth-volumes-protected", () => {
  it("flags an hcloud or Scaleway volume that a pulumi up could delete", async () => {
    const h = await violations(
      volumesProtected,
      resourceArgs(HCLOUD_VOLUME, { size: 10, location: "fsn1" }, {}, "data"),
    );
    expect(h).toEqual([
      expect.stringContaining(
        "volume 'data' can be deleted by a pulumi up: declare it with { protect: true } or deleteProtection: true",
      ),
    ]);
    expect(
      await violations(volumesProtected, resourceArgs(BLOCK, { sizeInGb: 10 }, {}, "data")),
    ).toHaveLength(1);
  });

  it("passes protect: true, and Hetzner's deleteProtection", async () => {
    expect(
      await violations(volumesProtected, resourceArgs(HCLOUD_VOLUME, { size: 10 }, { protect: true })),
    ).toEqual([]);
    expect(
      await violations(volumesProtected, resourceArgs(HCLOUD_VOLUME, { size: 10, deleteProtection: true })),
    ).toEqual([]);
    expect(
      await violations(volumesProtected, resourceArgs(BLOCK, { sizeInGb: 10 }, { protect: true })),
    ).toEqual([]);
  });

  it("ignores other resources", async () => {
    expect(await violations(volumesProtected, resourceArgs("hcloud:index/server:Server", {}))).toEqual([]);
  });
});
