import { describe, expect, it } from "vitest";
import { parseStackConfig, StackConfigError } from "./config";

describe("parseStackConfig", () => {
  it("defaults to the local target", () => {
    expect(parseStackConfig({}, "Pulumi.local.yaml")).toEqual({ target: "local" });
  });

  it("reads berth: keys and ignores other namespaces", () => {
    const cfg = parseStackConfig({ "berth:target": "hetzner", "hcloud:token": "x" }, "Pulumi.h.yaml");
    expect(cfg.target).toBe("hetzner");
  });

  it("names the key and the file of a bad value", () => {
    expect(() => parseStackConfig({ "berth:target": "aws" }, "Pulumi.prod.yaml")).toThrowError(
      /Pulumi\.prod\.yaml: berth:target: .*pulumi config set berth:target VALUE/,
    );
  });

  it("names an unknown key and lists the known ones", () => {
    try {
      parseStackConfig({ "berth:tagret": "local" }, "Pulumi.local.yaml");
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(StackConfigError);
      expect((e as Error).message).toContain("berth:tagret: unknown config key (known: berth:target");
    }
  });
});
