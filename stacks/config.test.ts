import { describe, expect, it } from "vitest";
import { configKey, parseStackConfig, StackConfigError } from "./config";

const minimal = {
  "berth:signingKey": "k",
  "berth:environments": JSON.stringify([{ name: "demo", compose: "local/app/compose.yaml" }]),
};

function problems(all: Record<string, string>): string[] {
  try {
    parseStackConfig(all, "Pulumi.test.yaml");
  } catch (e) {
    expect(e).toBeInstanceOf(StackConfigError);
    return (e as StackConfigError).problems;
  }
  throw new Error("expected the config to be refused");
}

describe("parseStackConfig", () => {
  it("fills defaults: local target, port 8088, no secrets", () => {
    expect(parseStackConfig(minimal, "Pulumi.local.yaml")).toMatchObject({
      target: "local",
      localHttpPort: 8088,
      secrets: {},
      environments: [{ name: "demo", variables: {}, allowImagesOutsideNamespace: false }],
    });
  });

  it("reads berth: keys and ignores other namespaces", () => {
    expect(parseStackConfig({ ...minimal, "berth:target": "hetzner", "hcloud:token": "x" }, "P").target).toBe(
      "hetzner",
    );
  });

  it("names the key and the allowed values of a bad value, never the value itself", () => {
    const p = problems({ ...minimal, "berth:target": "aws" });
    expect(p[0]).toMatch(/^Pulumi\.test\.yaml: berth:target: .*"local".*"hetzner".*"scaleway"/);
  });

  it("names nested keys like berth:environments[0].name", () => {
    const p = problems({
      ...minimal,
      "berth:environments": JSON.stringify([{ name: "Demo!", compose: "x" }]),
    });
    expect(p).toEqual([
      "Pulumi.test.yaml: berth:environments[0].name: use 1-63 lowercase letters, digits and dashes, starting with a letter or digit",
    ]);
  });

  it("says how to set a missing key", () => {
    const p = problems({ "berth:environments": minimal["berth:environments"] });
    expect(p).toEqual([
      "Pulumi.test.yaml: berth:signingKey: missing (set it with `pulumi config set berth:signingKey VALUE`)",
    ]);
  });

  it("names an unknown key and lists the known ones", () => {
    const p = problems({ ...minimal, "berth:tagret": "local" });
    expect(p[0]).toContain("berth:tagret: unknown config key (known: berth:target");
  });

  it("formats paths", () => {
    expect(configKey(["environments", 2, "variables", "A"])).toBe("berth:environments[2].variables.A");
  });
});
