// The hetzner example stack on an Arm server (CAX) under Pulumi mocks: the Compose file is
// checked against linux/arm64, and every image is built for it (a file of its own: the program
// runs once per test file).
import { describe, expect, it } from "vitest";
import { exampleConfig, runProgram, SECRETS, withTestApp } from "./testdata/program";

describe("the hetzner example stack on an Arm server (mocks)", () => {
  it("checks the Compose file against linux/arm64 and builds every image for it", async () => {
    const base = withTestApp(exampleConfig("Pulumi.hetzner.example.yaml"));
    const nodes = (JSON.parse(base["berth:nodes"] ?? "[]") as Record<string, unknown>[]).map((n) => ({
      ...n,
      serverType: "cax21",
    }));
    const arm = await runProgram(
      "hetzner",
      { ...base, "berth:nodes": JSON.stringify(nodes), ...SECRETS },
      Object.keys(SECRETS),
    );
    const dyn = arm.created.filter((r) => r.type === "pulumi-nodejs:dynamic:Resource");
    const builds = dyn.filter((r) => r.inputs.berthKind === "image-build");
    expect(builds.length).toBeGreaterThan(0);
    for (const b of builds) expect(b.inputs.platform, b.name).toBe("linux/arm64");
    expect(dyn.find((r) => r.name === "shop-release")?.inputs.platform).toBe("linux/arm64");
  }, 30_000);
});
