// DeploymentNode under Pulumi mocks, one provider at a time: what it declares under itself.
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { generateSigningKeyPair } from "../../contract/payload";
import { AGENT_CONFIG_PATH, AGENT_INSTALLER_PATH, ENROLLMENT_SECRET_PATH } from "./cloud-init";
import { DeploymentNode } from "./deployment-node";
import type { NodeCloudInitArgs } from "./hcloud-node";
import { type Recorded, setCloudMocks, settle, value } from "./mocks";

let created: Recorded[];
beforeAll(() => {
  created = setCloudMocks();
});
const find = (type: string, name: string) => created.find((r) => r.type === type && r.name === name);

const trusted = generateSigningKeyPair().publicKey;
const cloudInit: NodeCloudInitArgs = {
  channel: {
    endpoint: "https://s3.fr-par.scw.cloud",
    bucket: "chan",
    region: "fr-par",
    prefix: "prod",
    accessKeyId: "SCWNODE",
    secretAccessKey: pulumi.secret("node-secret"),
  },
  trustedKeys: [trusted],
  enrollmentSecret: pulumi.secret("enrollment-secret-of-the-node-0123456789abcdef"),
  agent: { kind: "channel" },
};
const identity = {
  channel: { kind: "folder" as const, path: "/tmp/berth-test/channel" },
  enrollmentSecret: pulumi.secret("enrollment-secret-of-the-node-0123456789abcdef"),
};

describe("DeploymentNode", () => {
  it("hcloud: server and firewall are its children; ipv4, location and id come out", async () => {
    const node = new DeploymentNode("web", {
      provider: "hcloud",
      nodeId: "web-1",
      serverType: "cx22",
      location: "hel1",
      cloudInit,
      identity,
    });
    expect(await value(node.ipv4)).toBe("203.0.113.10");
    expect(await value(node.nodeId)).toBe("web-1");
    expect(node.location).toBe("hel1");
    expect(await value(node.machine.urn)).toContain(
      "berth:index:DeploymentNode$hcloud:index/server:Server::web-server",
    );
    expect(await value(node.firewall!.urn)).toContain(
      "berth:index:DeploymentNode$hcloud:index/firewall:Firewall",
    );
    expect(await value(node.userDataHash!)).toMatch(/^[0-9a-f]{64}$/);
    await settle();
    const server = find("hcloud:index/server:Server", "web-server");
    const ud = parse(String(server?.inputs.userData)) as { write_files: { path: string; content: string }[] };
    expect(ud.write_files.map((f) => f.path)).toContain(AGENT_INSTALLER_PATH);
    expect(
      JSON.parse(ud.write_files.find((f) => f.path === AGENT_CONFIG_PATH)?.content ?? "{}"),
    ).toMatchObject({
      nodeId: "web-1",
      trustedKeys: [trusted],
      channel: { bucket: "chan", prefix: "prod", accessKeyId: "SCWNODE" },
      enrollmentSecretFile: ENROLLMENT_SECRET_PATH,
    });
    const secretFile = ud.write_files.find((f) => f.path === ENROLLMENT_SECRET_PATH) as
      | { content: string; permissions: string }
      | undefined;
    expect(secretFile).toMatchObject({
      content: "enrollment-secret-of-the-node-0123456789abcdef\n",
      permissions: "0600",
    });
    // The keys come from the NodeIdentity under it, taken on first contact from that server.
    expect(await value(node.publicKey)).toBe("mock-sealing-key-of-web-1");
    expect(await value(node.statusKey)).toBe("mock-status-key-of-web-1");
    const id = find("pulumi-nodejs:dynamic:Resource", "web-identity");
    expect(id?.inputs).toMatchObject({ berthKind: "node-identity", nodeId: "web-1", serverId: server?.id });
    expect(id?.secretInputs).toEqual(expect.arrayContaining(["enrollmentSecret", "channel"]));
  });

  it("scaleway: server, IP and security group in the zone; warns about SSH open to the world", async () => {
    const node = new DeploymentNode("api", {
      provider: "scaleway",
      nodeId: "api-1",
      serverType: "DEV1-S",
      zone: "nl-ams-1",
      allowSsh: { sources: ["0.0.0.0/0"] },
      cloudInit,
      identity,
    });
    expect(await value(node.ipv4)).toBe("198.51.100.20");
    expect(node.location).toBe("nl-ams-1");
    expect(node.warnings.join()).toMatch(/SSH .* whole internet/);
    expect(await value(node.machine.urn)).toContain(
      "berth:index:DeploymentNode$scaleway:instance/server:Server",
    );
    await settle();
    expect(find("scaleway:instance/ip:Ip", "api-ip")?.inputs).toMatchObject({ zone: "nl-ams-1" });
    const sg = find("scaleway:instance/securityGroup:SecurityGroup", "api-security-group");
    const ssh = ((sg?.inputs.inboundRules ?? []) as { port: number; ipRange: string }[]).filter(
      (r) => r.port === 22,
    );
    expect(ssh.map((r) => r.ipRange)).toEqual(["0.0.0.0/0"]);
  });

  it("local: the agent as a LocalNode dynamic resource under it", async () => {
    const node = new DeploymentNode("dev", {
      provider: "local",
      nodeId: "local-1",
      stateRoot: "/tmp/berth-test/node",
      volumeRoot: "/tmp/berth-test/volumes",
      channelPath: "/tmp/berth-test/channel",
      trustedKeys: [trusted],
      proxyBind: "127.0.0.1:8099",
      enrollmentSecret: "enrollment-secret-of-the-node-0123456789abcdef",
    });
    expect(node.location).toBe("local");
    expect(await value(node.ipv4)).toBe("127.0.0.1");
    expect(await value(node.machine.urn)).toContain(
      "berth:index:DeploymentNode$pulumi-nodejs:dynamic:Resource::dev-agent",
    );
    await settle();
    expect(find("pulumi-nodejs:dynamic:Resource", "dev-agent")?.inputs).toMatchObject({
      berthKind: "local-node",
      nodeId: "local-1",
      proxyBind: "127.0.0.1:8099",
      channelPath: "/tmp/berth-test/channel",
    });
  });

  it("refuses a bad location before declaring anything, naming it and the allowed values", () => {
    const before = created.length;
    expect(
      () =>
        new DeploymentNode("bad", {
          provider: "hcloud",
          nodeId: "bad-1",
          serverType: "cx22",
          location: "fsn9" as "fsn1",
          cloudInit,
          identity,
        }),
    ).toThrow(/bad\.location: "fsn9" is not a Hetzner location; use one of fsn1, nbg1, hel1, ash, hil, sin/);
    // The component itself registered; no server, no firewall.
    expect(created.slice(before).filter((r) => r.type.startsWith("hcloud:"))).toEqual([]);
  });
});
