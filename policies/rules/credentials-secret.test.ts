import { describe, expect, it } from "vitest";
import { DYNAMIC_RESOURCE_TYPE } from "./berth-resources";
import { credentialProperties, credentialsAreSecret } from "./credentials-secret";
import { resourceArgs, violations } from "./testing";

const releaseProps = {
  berthKind: "release",
  berthProviderVersion: "1",
  registry: { host: "r", prefix: "p", allowOutside: false, username: "u", password: "pw" },
  channel: { kind: "s3", bucket: "b", accessKeyId: "AK", secretAccessKey: "SK" },
  secrets: { "api-token": "t" },
  signingKey: "k",
  // An app's environment names a token, but only by marker: not a credential property.
  summary: { services: { web: { environment: { API_TOKEN: "(secret api-token)" } } } },
};

describe("berth-credentials-secret", () => {
  it("finds credential properties by name and by their fields", () => {
    expect(credentialProperties(releaseProps).sort()).toEqual([
      "channel",
      "registry",
      "secrets",
      "signingKey",
    ]);
    expect(credentialProperties({ password: "x", username: "u", repository: "r" })).toEqual(["password"]);
  });

  it("passes a release that lists them in additionalSecretOutputs", async () => {
    const args = resourceArgs(DYNAMIC_RESOURCE_TYPE, releaseProps, {
      additionalSecretOutputs: ["secrets", "signingKey", "registry", "channel"],
    });
    expect(await violations(credentialsAreSecret, args)).toEqual([]);
  });

  it("flags a berth resource whose registry or channel credentials are not secret outputs", async () => {
    const args = resourceArgs(
      DYNAMIC_RESOURCE_TYPE,
      releaseProps,
      { additionalSecretOutputs: ["secrets", "signingKey"] },
      "shop-release",
    );
    expect(await violations(credentialsAreSecret, args)).toEqual([
      "release 'shop-release' carries credentials in registry, channel without marking them secret: add them to additionalSecretOutputs so the state never holds them in plain text",
    ]);
  });

  it("never repeats a credential's value in its message", async () => {
    const args = resourceArgs(DYNAMIC_RESOURCE_TYPE, releaseProps, {}, "shop-release");
    const [message] = await violations(credentialsAreSecret, args);
    for (const value of ["pw", "SK", "AK"]) expect(message).not.toContain(`${value} `);
  });

  it("ignores dynamic resources that are not berth's", async () => {
    const { berthKind: _k, ...rest } = releaseProps;
    expect(await violations(credentialsAreSecret, resourceArgs(DYNAMIC_RESOURCE_TYPE, rest))).toEqual([]);
  });
});
