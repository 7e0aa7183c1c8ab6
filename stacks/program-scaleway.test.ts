// The whole program under Pulumi mocks with stacks/Pulumi.scaleway.example.yaml.

import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { AGENT_CONFIG_PATH } from "../components/deployment-node/cloud-init";
import { exampleConfig, type ProgramRun, runProgram, SECRETS, withTestApp } from "./testdata/program";

let run: ProgramRun;
const all = (type: string) => run.created.filter((r) => r.type === type);
const one = (type: string, name: string) => {
  const r = run.created.find((x) => x.type === type && x.name === name);
  if (!r)
    throw new Error(
      `no ${type} named ${name}; declared: ${run.created.map((x) => `${x.type} ${x.name}`).join(", ")}`,
    );
  return r;
};
const PROJECT = "11111111-2222-3333-4444-555555555555";

describe("the scaleway example stack (mocks)", () => {
  beforeAll(async () => {
    const { "cloudflare:apiToken": _cf, ...secrets } = SECRETS;
    const config = { ...withTestApp(exampleConfig("Pulumi.scaleway.example.yaml")), ...secrets };
    run = await runProgram("scaleway", config, Object.keys(secrets));
  }, 30_000);

  it("declares the expected resources", () => {
    const names = (t: string) =>
      all(t)
        .map((r) => r.name)
        .sort();
    expect(names("berth:index:DeploymentNode")).toEqual(["app-1"]);
    expect(names("scaleway:instance/server:Server")).toEqual(["app-1-server"]);
    expect(names("scaleway:instance/securityGroup:SecurityGroup")).toEqual(["app-1-security-group"]);
    expect(names("scaleway:instance/ip:Ip")).toEqual(["app-1-ip"]);
    expect(names("scaleway:block/volume:Volume")).toEqual(["shop-db_data-volume"]);
    expect(names("scaleway:object/bucket:Bucket")).toEqual(["channel-bucket"]);
    expect(names("scaleway:object/bucketPolicy:BucketPolicy")).toEqual(["channel-policy"]);
    expect(names("scaleway:registry/namespace:Namespace")).toEqual(["registry-namespace"]);
    expect(names("scaleway:iam/application:Application")).toEqual([
      "channel-node-app-1",
      "registry-pull-app",
      "registry-push-app",
    ]);
    expect(names("scaleway:iam/apiKey:ApiKey")).toEqual([
      "channel-node-app-1-key",
      "registry-pull-key",
      "registry-push-key",
    ]);
    expect(names("cloudflare:index/dnsRecord:DnsRecord")).toEqual(["shop-dns-shop.example.com"]);
    expect(all("cloudflare:index/r2Bucket:R2Bucket")).toEqual([]);
    expect(all("hcloud:index/server:Server")).toEqual([]);
  });

  it("the server: in fr-par-1, the volume attached through it, user data reading the Scaleway channel", () => {
    const server = one("scaleway:instance/server:Server", "app-1-server");
    const volume = one("scaleway:block/volume:Volume", "shop-db_data-volume");
    expect(volume.inputs).toMatchObject({ zone: "fr-par-1", sizeInGb: 10, iops: 5000, projectId: PROJECT });
    expect(server.inputs).toMatchObject({
      name: "app-1",
      type: "DEV1-S",
      zone: "fr-par-1",
      projectId: PROJECT,
      rootVolume: { sizeInGb: 20 },
      additionalVolumeIds: [volume.id],
    });
    const ud = parse((server.inputs.userData as Record<string, string>)["cloud-init"] ?? "") as {
      write_files: { path: string; content: string }[];
    };
    const agent = JSON.parse(ud.write_files.find((f) => f.path === AGENT_CONFIG_PATH)?.content ?? "{}");
    expect(agent.channel).toMatchObject({
      endpoint: "https://s3.fr-par.scw.cloud",
      bucket: "acme-berth-prod",
      region: "fr-par",
      accessKeyId: expect.stringMatching(/^SCW/),
    });
    const sg = one("scaleway:instance/securityGroup:SecurityGroup", "app-1-security-group");
    expect(sg.inputs).toMatchObject({ inboundDefaultPolicy: "drop", zone: "fr-par-1" });
    const rules = sg.inputs.inboundRules as { port: number; ipRange: string }[];
    expect(rules.filter((r) => r.port === 22).map((r) => r.ipRange)).toEqual(["198.51.100.0/24"]);
  });

  it("the channel policy keeps the program principal in and the node to its own prefix", () => {
    const doc = JSON.parse(
      String(one("scaleway:object/bucketPolicy:BucketPolicy", "channel-policy").inputs.policy),
    );
    expect(doc.Statement[0].Principal).toEqual({
      SCW: "application_id:66666666-7777-8888-9999-000000000000",
    });
    expect(doc.Statement.map((s: { Sid: string }) => s.Sid)).toEqual([
      "BerthProgram",
      "BerthNodeList-app-1",
      "BerthNodeRead-app-1",
      "BerthNodeReport-app-1",
    ]);
  });

  it("the registry: a private namespace; builds push into rg.fr-par.scw.cloud/acme-apps", () => {
    expect(one("scaleway:registry/namespace:Namespace", "registry-namespace").inputs).toMatchObject({
      name: "acme-apps",
      region: "fr-par",
      isPublic: false,
    });
    expect(one("pulumi-nodejs:dynamic:Resource", "shop-web-image").inputs).toMatchObject({
      repository: "rg.fr-par.scw.cloud/acme-apps/shop-web",
      username: "nologin",
    });
    expect(one("pulumi-nodejs:dynamic:Resource", "shop-release").inputs).toMatchObject({
      nodeId: "app-1",
      registry: { host: "rg.fr-par.scw.cloud", prefix: "acme-apps", username: "nologin" },
      channel: { kind: "s3", endpoint: "https://s3.fr-par.scw.cloud", bucket: "acme-berth-prod" },
    });
    // The block volume's id is fr-par-1/<uuid>; on the Instance it is scsi-0SCW_sbs_volume-<uuid>.
    const volumeId = one("scaleway:block/volume:Volume", "shop-db_data-volume").id.split("/")[1];
    expect(one("pulumi-nodejs:dynamic:Resource", "shop-release").inputs.disks).toEqual({
      db_data: `/dev/disk/by-id/scsi-0SCW_sbs_volume-${volumeId}`,
    });
  });

  it("DNS: a proxied A record to the node's flexible IP", () => {
    expect(one("cloudflare:index/dnsRecord:DnsRecord", "shop-dns-shop.example.com").inputs).toMatchObject({
      zoneId: "fedcba9876543210fedcba9876543210",
      name: "shop.example.com",
      content: "198.51.100.20",
      proxied: true,
    });
    expect(run.outputs.nodes).toEqual({ "app-1": { ipv4: "198.51.100.20", location: "fr-par-1" } });
  });
});
