// RegistryNamespace under Pulumi mocks: each kind's host, namespace, prefix and credentials.
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { type Recorded, setCloudMocks, settle, value } from "../deployment-node/mocks";
import { RegistryNamespace } from "./registry-namespace";

const ACCOUNT = "0123456789abcdef0123456789abcdef";
let created: Recorded[];
beforeAll(() => {
  created = setCloudMocks();
});

describe("RegistryNamespace", () => {
  it("oci: host and prefix from args; passwords secret; push defaults to pull", async () => {
    const r = new RegistryNamespace("ghcr", {
      kind: "oci",
      host: "ghcr.io",
      namespace: "acme/apps",
      pull: { username: "bot", password: "pull-token" },
    });
    expect([r.hostName, r.path]).toEqual(["ghcr.io", "acme/apps"]);
    expect(await value(r.prefix)).toBe("ghcr.io/acme/apps");
    expect(await value(r.push.username)).toBe("bot");
    expect(await pulumi.isSecret(r.pull.password)).toBe(true);
    expect(await pulumi.isSecret(r.push.password)).toBe(true);
  });

  it("local: the setup's registry, passed in", async () => {
    const r = new RegistryNamespace("local", {
      kind: "local",
      host: "127.0.0.1:5000",
      namespace: "berth",
      pull: { username: "berth", password: "pw" },
    });
    expect(await value(r.prefix)).toBe("127.0.0.1:5000/berth");
    expect(await value(r.host)).toBe("127.0.0.1:5000");
  });

  it("scaleway: a private registry.Namespace and read-only / full-access IAM keys", async () => {
    const r = new RegistryNamespace("scw", {
      kind: "scaleway",
      name: "acme-apps",
      region: "nl-ams",
      projectId: "p",
    });
    expect([r.hostName, r.path]).toEqual(["rg.nl-ams.scw.cloud", "acme-apps"]);
    expect(await value(r.prefix)).toBe("rg.nl-ams.scw.cloud/acme-apps");
    expect(await value(r.pull.username)).toBe("nologin");
    expect(await pulumi.isSecret(r.pull.password)).toBe(true);
    await settle();
    expect(created.find((c) => c.name === "scw-namespace")?.inputs).toMatchObject({
      name: "acme-apps",
      region: "nl-ams",
      isPublic: false,
    });
    const sets = created
      .filter((c) => c.type === "scaleway:iam/policy:Policy" && c.name.startsWith("scw-"))
      .map((c) => (c.inputs.rules as { permissionSetNames: string[] }[])[0]?.permissionSetNames);
    expect(sets).toEqual([["ContainerRegistryReadOnly"], ["ContainerRegistryFullAccess"]]);
  });

  it("cloudflare: registry.cloudflare.com/<account>/<namespace>, minted pull and push credentials", async () => {
    const r = new RegistryNamespace("cf", {
      kind: "cloudflare",
      accountId: ACCOUNT,
      apiToken: pulumi.secret("api-token"),
      namespace: "acme/apps",
    });
    expect([r.hostName, r.path]).toEqual(["registry.cloudflare.com", `${ACCOUNT}/acme/apps`]);
    expect(await value(r.prefix)).toBe(`registry.cloudflare.com/${ACCOUNT}/acme/apps`);
    await settle();
    const minted = created.filter(
      (c) => c.inputs.berthKind === "cloudflare-registry-credentials" && c.name.startsWith("cf-"),
    );
    expect(minted.map((c) => [c.name, c.inputs.permissions])).toEqual([
      ["cf-pull", ["pull"]],
      ["cf-push", ["pull", "push"]],
    ]);
    expect(minted.every((c) => c.secretInputs.includes("apiToken"))).toBe(true);
    expect(
      () =>
        new RegistryNamespace("x", { kind: "cloudflare", accountId: "nope", apiToken: "t", namespace: "a" }),
    ).toThrow(/accountId: a Cloudflare account id is 32 hex characters/);
  });
});
