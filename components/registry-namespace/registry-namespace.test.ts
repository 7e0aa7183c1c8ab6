import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import * as pulumi from "@pulumi/pulumi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Recorded, setCloudMocks, settle, value } from "../deployment-node/mocks";
import {
  type CloudflareRegistryCredentialsInputs,
  type CloudflareRegistryCredentialsOutputs,
  cloudflareRegistryCredentialsProvider as provider,
} from "./cloudflare-credentials-provider";
import {
  createCloudflareRegistryNamespace,
  createScalewayRegistryNamespace,
  ociRegistryNamespace,
} from "./registry-namespace";

const ACCOUNT = "0123456789abcdef0123456789abcdef";

describe("Cloudflare registry credentials (the dynamic provider, against a local HTTP server)", () => {
  let server: Server;
  let baseUrl = "";
  const seen: { method?: string; url?: string; auth?: string; body: unknown }[] = [];
  let minted = 0;
  let refuse = false;
  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res) => {
      let text = "";
      req.on("data", (d) => (text += d));
      req.on("end", () => {
        seen.push({
          method: req.method,
          url: req.url,
          auth: req.headers.authorization,
          body: JSON.parse(text || "{}"),
        });
        res.setHeader("content-type", "application/json");
        if (refuse) {
          res.statusCode = 403;
          res.end(
            JSON.stringify({ success: false, errors: [{ code: 10000, message: "Authentication error" }] }),
          );
          return;
        }
        minted++;
        res.end(
          JSON.stringify({
            success: true,
            errors: [],
            result: {
              account_id: ACCOUNT,
              registry_host: "registry.cloudflare.com",
              username: "v1",
              password: `pw-${minted}`,
            },
          }),
        );
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/client/v4`;
  });
  afterAll(() => server.close());

  const inputs = (): CloudflareRegistryCredentialsInputs => ({
    accountId: ACCOUNT,
    registryHost: "registry.cloudflare.com",
    apiToken: "cf-api-token",
    permissions: ["pull", "push"],
    expirationMinutes: 60,
    renewBeforeMinutes: 10,
    baseUrl,
    berthKind: "cloudflare-registry-credentials",
    berthProviderVersion: "1",
  });

  it("checks its inputs", async () => {
    const r = await provider.check!({} as never, {
      ...inputs(),
      accountId: "nope",
      permissions: [] as never,
      expirationMinutes: 1,
    });
    expect(r.failures?.map((f) => f.property)).toEqual(["accountId", "permissions", "expirationMinutes"]);
    expect((await provider.check!({} as never, inputs())).failures).toEqual([]);
  });

  it("creates: POSTs the documented request and returns the credentials with their expiry", async () => {
    const before = Date.now();
    const r = await provider.create!(inputs());
    expect(seen.at(-1)).toEqual({
      method: "POST",
      url: `/client/v4/accounts/${ACCOUNT}/containers/registries/registry.cloudflare.com/credentials`,
      auth: "Bearer cf-api-token",
      body: { expiration_minutes: 60, permissions: ["pull", "push"] },
    });
    expect(r.outs).toMatchObject({ username: "v1", password: "pw-1" });
    const exp = Date.parse(r.outs.expiresAt);
    expect(exp).toBeGreaterThanOrEqual(before + 60 * 60_000);
    expect(exp).toBeLessThan(Date.now() + 61 * 60_000);
  });

  it("diff: no change while fresh; a change when inputs change or expiry is near; update mints anew", async () => {
    const fresh = (await provider.create!(inputs())).outs as CloudflareRegistryCredentialsOutputs;
    expect((await provider.diff!("id", fresh, inputs())).changes).toBe(false);
    expect((await provider.diff!("id", fresh, { ...inputs(), permissions: ["pull"] })).changes).toBe(true);
    expect((await provider.diff!("id", fresh, { ...inputs(), apiToken: "rotated" })).changes).toBe(true);
    const nearlyExpired = { ...fresh, expiresAt: new Date(Date.now() + 5 * 60_000).toISOString() };
    expect((await provider.diff!("id", nearlyExpired, inputs())).changes).toBe(true);
    const u = await provider.update!("id", nearlyExpired, inputs());
    expect(u.outs.password).not.toBe(fresh.password);
  });

  it("says what failed, never the token", async () => {
    refuse = true;
    try {
      const err = await provider.create!(inputs()).catch((e: Error) => e);
      expect(String(err)).toMatch(
        /HTTP 403: Authentication error \(does the API token have the Containers permission/,
      );
      expect(String(err)).not.toContain("cf-api-token");
    } finally {
      refuse = false;
    }
  });

  it("delete needs no call (the credentials lapse)", async () => {
    const n = seen.length;
    await provider.delete!("id", inputs());
    expect(seen.length).toBe(n);
  });
});

describe("registry namespaces (mocks)", () => {
  let created: Recorded[];
  beforeAll(() => {
    created = setCloudMocks();
  });

  it("any OCI registry: host, prefix and secret credentials from config", async () => {
    const ns = ociRegistryNamespace({
      host: "ghcr.io",
      namespace: "acme/apps",
      pull: { username: "bot", password: pulumi.secret("pull-token") },
      push: { username: "ci", password: "push-token" },
    });
    expect(await value(ns.prefix)).toBe("ghcr.io/acme/apps");
    expect(await pulumi.isSecret(ns.pull.password)).toBe(true);
    expect(await pulumi.isSecret(ns.push.password)).toBe(true);
    expect(await value(ns.push.username)).toBe("ci");
    expect(() =>
      ociRegistryNamespace({ host: "ghcr.io", namespace: "Acme", pull: { username: "u", password: "p" } }),
    ).toThrow(/namespace: "Acme" is not a lowercase registry path/);
  });

  it("Scaleway: a private registry.Namespace and two IAM applications (read-only pull, full push)", async () => {
    const ns = createScalewayRegistryNamespace("reg", {
      name: "acme-apps",
      region: "nl-ams",
      projectId: "proj-1",
    });
    expect(await value(ns.prefix)).toBe("rg.nl-ams.scw.cloud/acme-apps");
    expect(await value(ns.pull.username)).toBe("nologin");
    expect(await pulumi.isSecret(ns.pull.password)).toBe(true);
    await settle();
    expect(created.find((r) => r.type === "scaleway:registry/namespace:Namespace")?.inputs).toMatchObject({
      name: "acme-apps",
      region: "nl-ams",
      isPublic: false,
    });
    const policies = created
      .filter((r) => r.type === "scaleway:iam/policy:Policy")
      .map((r) => r.inputs.rules);
    expect(policies).toEqual([
      [{ projectIds: ["proj-1"], permissionSetNames: ["ContainerRegistryReadOnly"] }],
      [{ projectIds: ["proj-1"], permissionSetNames: ["ContainerRegistryFullAccess"] }],
    ]);
  });

  it("Cloudflare: two credential resources (pull; pull+push) with the token as a secret input", async () => {
    const ns = createCloudflareRegistryNamespace("cf", {
      accountId: ACCOUNT,
      apiToken: pulumi.secret("tok"),
      namespace: "apps",
    });
    expect(await value(ns.prefix)).toBe(`registry.cloudflare.com/${ACCOUNT}/apps`);
    await settle();
    const dyn = created.filter(
      (r) => r.type === "pulumi-nodejs:dynamic:Resource" && r.name.startsWith("cf-"),
    );
    expect(dyn.map((r) => [r.name, r.inputs.permissions, r.secretInputs.includes("apiToken")])).toEqual([
      ["cf-pull", ["pull"], true],
      ["cf-push", ["pull", "push"], true],
    ]);
    expect(dyn[0]?.inputs.berthKind).toBe("cloudflare-registry-credentials");
  });
});
