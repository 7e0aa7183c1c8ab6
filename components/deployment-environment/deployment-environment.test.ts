// DeploymentEnvironment under Pulumi mocks: DNS records per route host, push vs pull credentials.
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { type Recorded, setCloudMocks, settle, value } from "../deployment-node/mocks";
import { DeploymentEnvironment, type DeploymentEnvironmentArgs } from "./deployment-environment";

const compose = path.resolve(__dirname, "../../stacks/testdata/shop/compose.yaml");
let created: Recorded[];
beforeAll(() => {
  created = setCloudMocks();
});
const base = (name: string): DeploymentEnvironmentArgs => ({
  name,
  composeFile: compose,
  variables: { PUBLIC_URL: "https://shop.example.com" },
  secrets: { "db-password": "x" },
  node: { nodeId: "web-1", publicKey: "sealing-key", statusKey: "status-key" },
  channel: { kind: "folder", path: "/tmp/berth-chan" },
  registry: {
    host: "ghcr.io",
    namespace: "acme/apps",
    username: "puller",
    password: pulumi.secret("pull-pw"),
    push: { username: "pusher", password: pulumi.secret("push-pw") },
  },
  signingKey: "k",
  urlFor: (r) => `https://${r.host}${r.path ?? "/"}`,
});

describe("DeploymentEnvironment", () => {
  it("declares a proxied A record per route host in the zone, at the node's address", async () => {
    const env = new DeploymentEnvironment("shop", {
      ...base("shop"),
      dns: { zoneId: "zone-1", ipv4: pulumi.output("203.0.113.7") },
    });
    expect(await value(env.urls)).toEqual(["https://shop.example.com/"]);
    expect(await value(env.dnsRecords[0]!.urn)).toContain(
      "berth:index:DeploymentEnvironment$cloudflare:index/dnsRecord:DnsRecord::shop-dns-shop.example.com",
    );
    await settle();
    const records = created.filter((r) => r.type === "cloudflare:index/dnsRecord:DnsRecord");
    expect(records.map((r) => r.inputs)).toEqual([
      {
        zoneId: "zone-1",
        name: "shop.example.com",
        type: "A",
        content: "203.0.113.7",
        proxied: true,
        ttl: 1,
        comment: "berth: environment shop",
      },
    ]);
  });

  it("builds push with the push credentials; the release carries the pull ones", async () => {
    new DeploymentEnvironment("creds", base("creds"));
    await settle();
    const build = created.find((r) => r.name === "creds-web-image");
    expect(build?.inputs).toMatchObject({
      username: "pusher",
      password: "push-pw",
      repository: "ghcr.io/acme/apps/creds-web",
    });
    const release = created.find((r) => r.name === "creds-release");
    expect(release?.inputs.registry).toMatchObject({
      username: "puller",
      password: "pull-pw",
      prefix: "acme/apps",
    });
    expect(
      created.filter((r) => r.type === "cloudflare:index/dnsRecord:DnsRecord" && r.name.startsWith("creds")),
    ).toEqual([]);
  });

  it("hands the backup declaration and a rollback to the Release; the backup secrets stay secrets", async () => {
    const backup = {
      target: { endpoint: "https://s3.fr-par.scw.cloud", bucket: "acme-backups", region: "fr-par" },
      schedule: "0 2 * * *",
      retention: { last: 5 },
    };
    new DeploymentEnvironment("bk", {
      ...base("bk"),
      secrets: { "db-password": "x", "backup-password": "pw-value-1234" },
      backup,
      rollbackTo: 4,
    });
    await settle();
    const release = created.find((r) => r.name === "bk-release");
    expect(release?.inputs.backup).toEqual(backup);
    expect(release?.inputs.rollbackTo).toBe(4);
    expect(JSON.stringify(release?.inputs.backup)).not.toContain("pw-value-1234");
  });

  it("hands the active profiles to the Release, which validates with them", async () => {
    new DeploymentEnvironment("prof", { ...base("prof"), profiles: ["debug"] });
    new DeploymentEnvironment("noprof", base("noprof"));
    await settle();
    expect(created.find((r) => r.name === "prof-release")?.inputs.profiles).toEqual(["debug"]);
    expect(created.find((r) => r.name === "noprof-release")?.inputs.profiles).toBeUndefined();
  });

  it("refuses a listed host that no route serves", () => {
    expect(
      () =>
        new DeploymentEnvironment("bad", {
          ...base("bad"),
          dns: { zoneId: "z", ipv4: "203.0.113.7", hosts: ["api.example.com"] },
        }),
    ).toThrow(
      /environment bad: hosts: api.example.com is not the host of any x-berth-routes entry \(routes: shop.example.com\)/,
    );
  });
});
