import { describe, expect, it } from "vitest";
import { cloudNodePlatform, localNodePlatform } from "./platform";

describe("a node's platform", () => {
  it("is arm64 for Hetzner CAX and Scaleway Ampere servers, amd64 otherwise", () => {
    expect(cloudNodePlatform({ provider: "hcloud", serverType: "cax21" })).toBe("linux/arm64");
    expect(cloudNodePlatform({ provider: "hcloud", serverType: "cx22" })).toBe("linux/amd64");
    expect(cloudNodePlatform({ provider: "hcloud", serverType: "cpx31" })).toBe("linux/amd64");
    expect(cloudNodePlatform({ provider: "scaleway", serverType: "AMP2-C4" })).toBe("linux/arm64");
    expect(cloudNodePlatform({ provider: "scaleway", serverType: "COPARM1-2C-8G" })).toBe("linux/arm64");
    expect(cloudNodePlatform({ provider: "scaleway", serverType: "DEV1-S" })).toBe("linux/amd64");
  });

  it("is this machine's for the local node", () => {
    expect(localNodePlatform("arm64")).toBe("linux/arm64");
    expect(localNodePlatform("x64")).toBe("linux/amd64");
  });
});
