import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { generateSigningKeyPair } from "../../contract/payload";
import { NodeArgsError } from "./args";
import { AGENT_CONFIG_PATH } from "./cloud-init";
import { nodeFirewallRules } from "./firewall";
import { createHcloudNode, type NodeCloudInitArgs } from "./hcloud-node";
import { isSecret, type Recorded, setCloudMocks, settle, value } from "./mocks";
import { createScalewayNode } from "./scaleway-node";

let created: Recorded[];
beforeAll(() => {
  created = setCloudMocks();
});
const byType = (type: string, name?: string) =>
  created.filter((r) => r.type === type && (name === undefined || r.name === name));

const cloudInit: NodeCloudInitArgs = {
  channel: {
    endpoint: "https://acc.r2.cloudflarestorage.com",
    bucket: "berth-channel",
    region: "auto",
    prefix: "",
    accessKeyId: "AK",
    secretAccessKey: pulumi.secret("node-secret"),
  },
  trustedKeys: [generateSigningKeyPair().publicKey],
  agent: { kind: "channel" },
};

describe("firewall rules", () => {
  it("opens HTTP and HTTPS only; no SSH unless asked", () => {
    const p = nodeFirewallRules();
    expect(p.rules.map((r) => r.port)).toEqual([80, 443]);
    expect(p.warnings).toEqual([]);
  });
  it("opens SSH to the listed sources only; flags a world-open SSH", () => {
    const p = nodeFirewallRules({ allowSsh: { sources: ["198.51.100.7", "2001:db8::/48"] } });
    expect(p.rules.find((r) => r.port === 22)?.sources).toEqual(["198.51.100.7/32", "2001:db8::/48"]);
    const w = nodeFirewallRules({ allowSsh: { sources: ["0.0.0.0/0"] } });
    expect(w.rules.find((r) => r.port === 22)?.sources).toEqual(["0.0.0.0/0"]);
    expect(w.warnings.join()).toMatch(/SSH .* whole internet/);
    expect(() => nodeFirewallRules({ allowSsh: { sources: ["10.0.0.0/33"] } })).toThrow(
      /allowSsh.sources\[0\]: "10.0.0.0\/33" is not an IP address or CIDR/,
    );
  });
});

describe("createHcloudNode", () => {
  it("declares a Debian 13 server with the user data and a firewall with 80/443 only", async () => {
    const node = createHcloudNode("web", {
      nodeId: "web-1",
      serverType: "cx22",
      location: "nbg1",
      sshKeys: ["ops"],
      cloudInit,
    });
    expect(await value(node.ipv4)).toBe("203.0.113.10");
    await settle();
    const [server] = byType("hcloud:index/server:Server", "web-server");
    expect(server?.inputs).toMatchObject({
      name: "web-1",
      image: "debian-13",
      serverType: "cx22",
      location: "nbg1",
      sshKeys: ["ops"],
      labels: { "berth-node": "web-1", "berth-role": "deployment" },
    });
    const ud = parse(String(server?.inputs.userData)) as { write_files: { path: string; content: string }[] };
    const cfg = JSON.parse(ud.write_files.find((f) => f.path === AGENT_CONFIG_PATH)?.content ?? "{}");
    expect(cfg).toMatchObject({ nodeId: "web-1", channel: { kind: "s3", bucket: "berth-channel" } });
    expect(await isSecret(node.userData)).toBe(true);
    expect(server?.secretInputs).toContain("userData");
    const [fw] = byType("hcloud:index/firewall:Firewall", "web-firewall");
    expect(fw?.inputs.rules).toEqual([
      {
        direction: "in",
        protocol: "tcp",
        port: "80",
        sourceIps: ["0.0.0.0/0", "::/0"],
        description: "HTTP (node proxy)",
      },
      {
        direction: "in",
        protocol: "tcp",
        port: "443",
        sourceIps: ["0.0.0.0/0", "::/0"],
        description: "HTTPS (node proxy)",
      },
    ]);
    expect(server?.inputs.firewallIds).toEqual([Number(await value(node.firewall.id))]);
    expect(node.warnings).toEqual([]);
  });

  it("adds SSH from the listed sources when asked", async () => {
    createHcloudNode("ops", {
      nodeId: "ops-1",
      serverType: "cax11",
      location: "hel1",
      allowSsh: { sources: ["198.51.100.0/24"] },
      cloudInit,
    });
    await settle();
    const [fw] = byType("hcloud:index/firewall:Firewall", "ops-firewall");
    expect(
      ((fw?.inputs.rules ?? []) as { port: string; sourceIps: string[] }[]).find((r) => r.port === "22"),
    ).toMatchObject({
      sourceIps: ["198.51.100.0/24"],
    });
  });

  it("refuses an unknown location, naming the argument and the allowed values", () => {
    expect(() =>
      createHcloudNode("bad", { nodeId: "bad-1", serverType: "cx22", location: "fsn9" as "fsn1", cloudInit }),
    ).toThrow(/bad\.location: "fsn9" is not a Hetzner location; use one of fsn1, nbg1, hel1, ash, hil, sin/);
    expect(() =>
      createHcloudNode("bad", { nodeId: "Bad_1", serverType: "cx22", location: "fsn1", cloudInit }),
    ).toThrow(NodeArgsError);
  });
});

describe("createScalewayNode", () => {
  it("declares a Debian trixie server with a flexible IP, a drop-by-default security group and cloud-init", async () => {
    const node = createScalewayNode("api", {
      nodeId: "api-1",
      serverType: "DEV1-S",
      zone: "fr-par-2",
      cloudInit,
      additionalVolumeIds: ["fr-par-2/vol-1"],
    });
    expect(await value(node.ipv4)).toBe("198.51.100.20");
    await settle();
    const [server] = byType("scaleway:instance/server:Server", "api-server");
    expect(server?.inputs).toMatchObject({
      name: "api-1",
      type: "DEV1-S",
      image: "debian_trixie",
      zone: "fr-par-2",
      additionalVolumeIds: ["fr-par-2/vol-1"],
    });
    const userData = server?.inputs.userData as Record<string, string>;
    expect(userData["cloud-init"]?.startsWith("#cloud-config\n")).toBe(true);
    const [sg] = byType("scaleway:instance/securityGroup:SecurityGroup", "api-security-group");
    expect(sg?.inputs).toMatchObject({
      inboundDefaultPolicy: "drop",
      outboundDefaultPolicy: "accept",
      zone: "fr-par-2",
    });
    const ports = ((sg?.inputs.inboundRules ?? []) as { port: number }[]).map((r) => r.port);
    expect([...new Set(ports)]).toEqual([80, 443]);
  });

  it("refuses an unknown zone with the allowed values", () => {
    expect(() =>
      createScalewayNode("x", {
        nodeId: "x-1",
        serverType: "DEV1-S",
        zone: "fr-par-9" as "fr-par-1",
        cloudInit,
      }),
    ).toThrow(
      /x\.zone: "fr-par-9" is not a Scaleway zone; use one of fr-par-1, fr-par-2, fr-par-3, nl-ams-1/,
    );
  });
});
