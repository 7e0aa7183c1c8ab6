import { describe, expect, it } from "vitest";
import { nodeSizeCeiling, sizeProblem } from "./node-size";
import { resourceArgs, violations } from "./testing";

describe("berth-node-size-ceiling", () => {
  it("flags an hcloud server type above the default ceiling (8 vCPU, 32 GB)", async () => {
    const v = await violations(
      nodeSizeCeiling,
      resourceArgs("hcloud:index/server:Server", { serverType: "ccx43" }, {}, "node-a"),
    );
    expect(v).toEqual([
      "node 'node-a': server type ccx43 (16 vCPU, 64 GB) is above the ceiling of 8 vCPU, 32 GB: pick a smaller type, or raise maxVcpus/maxMemoryGb in the policy config",
    ]);
    expect(nodeSizeCeiling.enforcementLevel).toBe("advisory");
  });

  it("passes types within the ceiling, and reads the ceiling and extra sizes from the policy config", async () => {
    expect(
      await violations(nodeSizeCeiling, resourceArgs("hcloud:index/server:Server", { serverType: "cx22" })),
    ).toEqual([]);
    expect(
      await violations(nodeSizeCeiling, resourceArgs("scaleway:instance/server:Server", { type: "DEV1-S" })),
    ).toEqual([]);
    const small = resourceArgs("scaleway:instance/server:Server", { type: "PRO2-XS" }, {}, "n", {
      maxVcpus: 2,
      maxMemoryGb: 8,
    });
    expect(await violations(nodeSizeCeiling, small)).toHaveLength(1);
    expect(
      sizeProblem("big9", { maxVcpus: 8, maxMemoryGb: 32, sizes: { big9: { vcpus: 4, memoryGb: 8 } } }),
    ).toBeUndefined();
  });

  it("says so when a type is not in the table", () => {
    expect(sizeProblem("zz99", { maxVcpus: 8, maxMemoryGb: 32 })).toContain("not in berth's size table");
  });
});
