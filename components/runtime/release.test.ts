import { beforeAll, describe, expect, it } from "vitest";
import { makeTestCertificate, type TestCertificate } from "../../contract/release/tls-testing";
import { changedProperties, check, type ReleaseInputs, type ReleaseOutputs } from "./release";

const compose = `services:
  web:
    image: registry.example/acme/web:1
x-berth-routes:
  - { service: web, port: 8080, host: app.example.com }
  - { service: web, port: 8080, host: www.example.com }
`;

function inputs(certificates: Record<string, string>): ReleaseInputs {
  return {
    berthKind: "release",
    berthProviderVersion: "1",
    environmentId: "shop",
    nodeId: "node-1",
    nodeKeys: { publicKey: "sealing-key", statusKey: "status-key" },
    channel: { kind: "folder", path: "/tmp/none" },
    composeFile: "compose.yaml",
    composeText: compose,
    projectDir: "/tmp",
    variables: {},
    images: {},
    registry: {
      host: "registry.example",
      prefix: "acme",
      allowOutside: false,
      username: "u",
      password: "p",
    },
    secrets: {},
    certificates,
    signingKey: "unused",
    timeoutSeconds: 10,
    summary: { services: {}, volumes: [], routes: [] },
  };
}

let both: TestCertificate;
let one: TestCertificate;
beforeAll(async () => {
  [both, one] = await Promise.all([
    makeTestCertificate(["app.example.com", "www.example.com"]),
    makeTestCertificate(["app.example.com"]),
  ]);
});

const reasons = async (certificates: Record<string, string>) =>
  (await check(undefined, inputs(certificates))).failures?.map((f) => `${f.property}: ${f.reason}`) ?? [];

describe("Release: cloud volume disks at preview", () => {
  it("refuses a disk for a volume the Compose file does not declare", async () => {
    const r = await check(undefined, { ...inputs({}), disks: { data: "/dev/disk/by-id/scsi-0HC_Volume_1" } });
    expect(r.failures?.map((f) => f.reason)).toEqual([
      "environment shop: a cloud volume backs data, but compose.yaml declares no volume data (volumes: none): fix berth:environments[].volumes[].name",
    ]);
  });
});

describe("Release: TLS certificates at preview", () => {
  it("accepts none, or bundles that cover every route host", async () => {
    expect(await reasons({})).toEqual([]);
    expect(await reasons({ site: both.bundle })).toEqual([]);
  });

  it("names the route hosts no certificate covers", async () => {
    expect(await reasons({ site: one.bundle })).toEqual([
      "certificates: environment shop: no certificate covers route host www.example.com (the certificates cover app.example.com): add one for it, or a wildcard",
    ]);
  });

  it("refuses a bundle that HAProxy could not serve, and a bad name, without showing the key", async () => {
    const r = await reasons({ site: both.certificate + one.key, Bad_Name: both.bundle });
    expect(r).toHaveLength(2);
    expect(r[0]).toMatch(/certificate site: the private key does not belong to the first certificate/);
    expect(r[1]).toMatch(/certificate name "Bad_Name": use 1-63 lowercase letters/);
    expect(r.join("\n")).not.toContain("PRIVATE KEY");
  });

  it("a renewed certificate is a new release; its value is never in the diff", () => {
    const olds = { ...inputs({ site: one.bundle }) } as ReleaseOutputs;
    expect(changedProperties(olds, inputs({ site: one.bundle }))).toEqual([]);
    expect(changedProperties(olds, inputs({ site: both.bundle }))).toEqual(["certificates.site"]);
    expect(changedProperties({ ...olds, certificates: undefined }, inputs({}))).toEqual([]);
  });
});
