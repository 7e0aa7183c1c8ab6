// The whole program under Pulumi mocks with stacks/Pulumi.hetzner.example.yaml: which resources
// it declares, with which arguments, and how they hang together.

import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import {
  AGENT_CONFIG_PATH,
  CHANNEL_SECRET_PATH,
  ENROLLMENT_SECRET_PATH,
} from "../components/deployment-node/cloud-init";
import { MOCK_ENROLLMENT_KEY } from "../components/deployment-node/mocks";
import { enrollmentSecretFor } from "../contract/channel/node-identity";
import {
  exampleConfig,
  type ProgramRun,
  runProgram,
  SECRETS,
  signing,
  withTestApp,
} from "./testdata/program";

const ACCOUNT = "0123456789abcdef0123456789abcdef";
const ZONE = "fedcba9876543210fedcba9876543210";

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

describe("the hetzner example stack (mocks)", () => {
  beforeAll(async () => {
    const config = { ...withTestApp(exampleConfig("Pulumi.hetzner.example.yaml")), ...SECRETS };
    run = await runProgram("hetzner", config, Object.keys(SECRETS));
  }, 30_000);

  it("declares the components and, under them, exactly the expected cloud resources", () => {
    const names = (t: string) =>
      all(t)
        .map((r) => r.name)
        .sort();
    expect(names("berth:index:ReleaseChannel")).toEqual(["channel"]);
    expect(names("berth:index:RegistryNamespace")).toEqual(["registry"]);
    expect(names("berth:index:DeploymentNode")).toEqual(["web-1"]);
    expect(names("berth:index:EnvironmentVolume")).toEqual(["shop-db_data"]);
    expect(names("berth:index:DeploymentEnvironment")).toEqual(["shop"]);
    expect(names("hcloud:index/server:Server")).toEqual(["web-1-server"]);
    expect(names("hcloud:index/firewall:Firewall")).toEqual(["web-1-firewall"]);
    expect(names("hcloud:index/volume:Volume")).toEqual(["shop-db_data-volume"]);
    expect(names("hcloud:index/volumeAttachment:VolumeAttachment")).toEqual(["shop-db_data-attachment"]);
    expect(names("cloudflare:index/r2Bucket:R2Bucket")).toEqual(["channel-bucket"]);
    expect(names("cloudflare:index/apiToken:ApiToken")).toEqual(["channel-node-web-1"]);
    expect(names("cloudflare:index/dnsRecord:DnsRecord")).toEqual(["shop-dns-shop.example.com"]);
    expect(names("berth:index:OriginCertificate")).toEqual(["shop-origin"]);
    expect(names("cloudflare:index/originCaCertificate:OriginCaCertificate")).toEqual([
      "shop-origin-certificate",
    ]);
    // Dynamic: the agent bundle and its rollout to the node (`pulumi up` waits for the node to run
    // it), registry credentials (pull, push), the volume's size guard, one
    // image per distinct build, the origin certificate's key, the release, the node's identity,
    // the stack's enrollment key.
    const dyn = all("pulumi-nodejs:dynamic:Resource").map((r) => `${r.inputs.berthKind} ${r.name}`);
    expect(dyn.sort()).toEqual(
      [
        "agent-bundle channel-agent-bundle",
        "agent-rollout web-1-agent",
        "cloudflare-registry-credentials registry-pull",
        "cloudflare-registry-credentials registry-push",
        "volume-size-guard shop-db_data-size-guard",
        "image-build shop-web-image",
        "image-build shop-db-image",
        "origin-key-request shop-origin-key",
        "release shop-release",
        "node-identity web-1-identity",
        "enrollment-key enrollment-key",
      ].sort(),
    );
    expect(all("scaleway:instance/server:Server")).toEqual([]);
  });

  it("the server: Debian 13 in nbg1, firewall attached, user data with the node's own channel credentials", () => {
    const server = one("hcloud:index/server:Server", "web-1-server");
    expect(server.inputs).toMatchObject({
      name: "web-1",
      image: "debian-13",
      serverType: "cx22",
      location: "nbg1",
      sshKeys: ["ops"],
      deleteProtection: true,
    });
    expect(server.secretInputs).toContain("userData");
    const ud = parse(String(server.inputs.userData)) as { write_files: { path: string; content: string }[] };
    const agent = JSON.parse(ud.write_files.find((f) => f.path === AGENT_CONFIG_PATH)?.content ?? "{}");
    expect(agent).toMatchObject({
      nodeId: "web-1",
      channel: {
        kind: "s3",
        endpoint: `https://${ACCOUNT}.r2.cloudflarestorage.com`,
        bucket: "acme-berth-prod",
        region: "auto",
        // The node's own R2 token: access key = the token's id.
        accessKeyId: one("cloudflare:index/apiToken:ApiToken", "channel-node-web-1").id,
      },
      trustedKeys: [signing.publicKey],
    });
    // The node's R2 secret (SHA-256 of its token) is in its own file; never the program's key.
    expect(ud.write_files.find((f) => f.path === CHANNEL_SECRET_PATH)?.content).toMatch(/^[0-9a-f]{64}\n$/);
    expect(String(server.inputs.userData)).not.toContain("program-secret-value");
    expect(String(server.inputs.userData)).not.toContain("PROGRAMKEYID");
    // The enrollment secret the node MACs its identity with: derived for this node, 0600.
    expect(agent.enrollmentSecretFile).toBe(ENROLLMENT_SECRET_PATH);
    const enrollment = ud.write_files.find((f) => f.path === ENROLLMENT_SECRET_PATH) as unknown as {
      content: string;
      permissions: string;
    };
    expect(enrollment).toMatchObject({
      content: `${enrollmentSecretFor(MOCK_ENROLLMENT_KEY, "web-1")}\n`,
      permissions: "0600",
    });
  });

  it("the node's keys come from its NodeIdentity (taken on first contact, same secret); the release seals to them", () => {
    const identity = one("pulumi-nodejs:dynamic:Resource", "web-1-identity");
    expect(identity.inputs).toMatchObject({
      berthKind: "node-identity",
      nodeId: "web-1",
      serverId: one("hcloud:index/server:Server", "web-1-server").id,
      enrollmentSecret: enrollmentSecretFor(MOCK_ENROLLMENT_KEY, "web-1"),
    });
    expect(identity.secretInputs).toEqual(expect.arrayContaining(["enrollmentSecret", "channel"]));
    expect(one("pulumi-nodejs:dynamic:Resource", "shop-release").inputs.nodeKeys).toEqual({
      publicKey: "mock-sealing-key-of-web-1",
      statusKey: "mock-status-key-of-web-1",
    });
  });

  it("the firewall opens 80 and 443 to all, SSH to the listed sources only", () => {
    const rules = one("hcloud:index/firewall:Firewall", "web-1-firewall").inputs.rules as {
      port: string;
      sourceIps: string[];
    }[];
    expect(rules.map((r) => [r.port, r.sourceIps])).toEqual([
      ["80", ["0.0.0.0/0", "::/0"]],
      ["443", ["0.0.0.0/0", "::/0"]],
      ["22", ["198.51.100.0/24"]],
    ]);
  });

  it("the volume is in the node's location, protected, attached to its server", () => {
    expect(one("hcloud:index/volume:Volume", "shop-db_data-volume").inputs).toMatchObject({
      name: "berth-shop-db-data",
      size: 20,
      location: "nbg1",
      deleteProtection: true,
    });
    expect(
      one("hcloud:index/volumeAttachment:VolumeAttachment", "shop-db_data-attachment").inputs,
    ).toMatchObject({ automount: false });
  });

  it("R2 channel: bucket as configured; the node's token is scoped to the bucket", () => {
    expect(one("cloudflare:index/r2Bucket:R2Bucket", "channel-bucket").inputs).toMatchObject({
      accountId: ACCOUNT,
      name: "acme-berth-prod",
      jurisdiction: "default",
      location: "weur",
    });
    const policies = one("cloudflare:index/apiToken:ApiToken", "channel-node-web-1").inputs.policies as {
      resources: string;
    }[];
    expect(JSON.parse(policies[0]?.resources ?? "{}")).toEqual({
      [`com.cloudflare.edge.r2.bucket.${ACCOUNT}_default_acme-berth-prod`]: "*",
    });
  });

  it("the agent bundle goes to the channel with the program's credentials and the signing key, both secret", () => {
    const b = one("pulumi-nodejs:dynamic:Resource", "channel-agent-bundle");
    expect(b.inputs).toMatchObject({
      key: "agent/berth-agent.js",
      channel: {
        kind: "s3",
        bucket: "acme-berth-prod",
        accessKeyId: "PROGRAMKEYID",
        secretAccessKey: "program-secret-value",
      },
      signingKey: signing.privateKey,
    });
    expect(b.inputs.bundleSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(b.secretInputs).toEqual(expect.arrayContaining(["channel", "signingKey"]));
  });

  it("pulumi up waits for the node to run that bundle, believing only its status signed by the key the state pins", () => {
    const b = one("pulumi-nodejs:dynamic:Resource", "channel-agent-bundle");
    const r = one("pulumi-nodejs:dynamic:Resource", "web-1-agent");
    expect(r.inputs).toMatchObject({
      berthKind: "agent-rollout",
      nodeId: "web-1",
      statusKey: "mock-status-key-of-web-1",
      version: b.inputs.version,
      bundleSha256: b.inputs.bundleSha256,
      channel: { kind: "s3", bucket: "acme-berth-prod" },
      // berth:releaseTimeoutSeconds (300), never less than the agent's 120 s trial and 30 s.
      timeoutSeconds: 300,
    });
    expect(r.secretInputs).toContain("channel");
  });

  it("a proxied DNS record per route host, in the zone, pointing at the node's IPv4", () => {
    expect(one("cloudflare:index/dnsRecord:DnsRecord", "shop-dns-shop.example.com").inputs).toMatchObject({
      zoneId: ZONE,
      name: "shop.example.com",
      type: "A",
      content: "203.0.113.10",
      proxied: true,
      ttl: 1,
    });
  });

  it("images are pushed with push credentials into the account's namespace; the release pulls with the pull ones", () => {
    const web = one("pulumi-nodejs:dynamic:Resource", "shop-web-image");
    expect(web.inputs).toMatchObject({
      repository: `registry.cloudflare.com/${ACCOUNT}/acme/apps/shop-web`,
      registryHost: "registry.cloudflare.com",
    });
    expect(web.secretInputs).toContain("password");
    const pull = one("pulumi-nodejs:dynamic:Resource", "registry-pull");
    const push = one("pulumi-nodejs:dynamic:Resource", "registry-push");
    expect(pull.inputs).toMatchObject({
      permissions: ["pull"],
      expirationMinutes: 10080,
      apiToken: "cf-api-token-value",
    });
    expect(push.inputs).toMatchObject({ permissions: ["pull", "push"], expirationMinutes: 1440 });
    const release = one("pulumi-nodejs:dynamic:Resource", "shop-release");
    expect(release.inputs).toMatchObject({
      environmentId: "shop",
      nodeId: "web-1",
      channel: { kind: "s3", bucket: "acme-berth-prod", accessKeyId: "PROGRAMKEYID" },
      registry: { host: "registry.cloudflare.com", prefix: `${ACCOUNT}/acme/apps`, allowOutside: false },
      variables: { PUBLIC_URL: "https://shop.example.com" },
      secrets: { "db-password": "db-secret-value" },
      certificates: { "cloudflare-origin": "mock-origin-certificate\nmock-private-key\n" },
    });
    // The volume's disk, as Hetzner names it on the server: the agent mounts it at the volume's folder.
    const volumeId = one("hcloud:index/volume:Volume", "shop-db_data-volume").id;
    expect(release.inputs.disks).toEqual({ db_data: `/dev/disk/by-id/scsi-0HC_Volume_${volumeId}` });
    expect(release.secretInputs).toEqual(
      expect.arrayContaining(["certificates", "channel", "registry", "secrets", "signingKey"]),
    );
  });

  it("issues a Cloudflare Origin CA certificate (ECC) for the route hosts from a key made in the program", () => {
    const key = run.created.find((r) => r.inputs.berthKind === "origin-key-request");
    expect(key?.inputs.hostnames).toEqual(["shop.example.com"]);
    expect(
      one("cloudflare:index/originCaCertificate:OriginCaCertificate", "shop-origin-certificate").inputs,
    ).toEqual({
      csr: "mock-csr",
      hostnames: ["shop.example.com"],
      requestType: "origin-ecc",
      requestedValidity: 5475,
    });
  });

  it("exports the URLs, the node and the channel", () => {
    expect(run.outputs).toMatchObject({
      url: "https://shop.example.com/",
      urls: ["https://shop.example.com/"],
      nodes: { "web-1": { ipv4: "203.0.113.10", location: "nbg1" } },
      // berth status and berth releases open it as it is (their --channel form).
      channelUrl: `s3:https://${ACCOUNT}.r2.cloudflarestorage.com/acme-berth-prod`,
      channelRegion: "auto",
    });
  });
});

describe("berth:agentTrialSeconds on a cloud target", () => {
  it("is refused, naming the key and what to do: cloud nodes keep the agent's trial", async () => {
    const config = {
      ...withTestApp(exampleConfig("Pulumi.hetzner.example.yaml")),
      ...SECRETS,
      "berth:agentTrialSeconds": "40",
    };
    await expect(runProgram("hetzner", config, Object.keys(SECRETS))).rejects.toThrow(
      /berth:agentTrialSeconds: only the local target's nodes take it; .*pulumi config rm berth:agentTrialSeconds/,
    );
  }, 30_000);
});
