// The hetzner example stack with a node group (issue 23) under Pulumi mocks: three servers, one
// swarm of them, and the shop placed on the group. What the program declares for the group and
// how the environment's release is wired to the group's leading manager.
import { beforeAll, describe, expect, it } from "vitest";
import { exampleConfig, type ProgramRun, runProgram, SECRETS, withTestApp } from "./testdata/program";

let run: ProgramRun;
const IPS = ["203.0.113.10", "203.0.113.11", "203.0.113.12"];
const all = (type: string) => run.created.filter((r) => r.type === type);
const one = (type: string, name: string) => {
  const r = run.created.find((x) => x.type === type && x.name === name);
  if (!r) throw new Error(`no ${type} named ${name}: ${run.created.map((x) => x.name).join(", ")}`);
  return r;
};

describe("the hetzner example stack with a node group (mocks)", () => {
  beforeAll(async () => {
    const base = withTestApp(exampleConfig("Pulumi.hetzner.example.yaml"));
    const [node] = JSON.parse(base["berth:nodes"] ?? "[]") as Record<string, unknown>[];
    const nodes = ["web-1", "web-2", "web-3"].map((id) => ({ ...node, id }));
    const [env] = JSON.parse(base["berth:environments"] ?? "[]") as Record<string, unknown>[];
    const { node: _n, ...shop } = env as Record<string, unknown> & { volumes: Record<string, unknown>[] };
    const config = {
      ...base,
      "berth:nodes": JSON.stringify(nodes),
      "berth:nodeGroups": JSON.stringify([
        {
          name: "web",
          nodes: ["web-1", "web-2", "web-3"],
          managers: ["web-2"],
          proxy: { image: "registry.example.com/ops/haproxy:2.6" },
        },
      ]),
      "berth:environments": JSON.stringify([
        { ...shop, nodeGroup: "web", volumes: shop.volumes.map((v) => ({ ...v, node: "web-3" })) },
      ]),
      ...SECRETS,
    };
    run = await runProgram("hetzner", config, Object.keys(SECRETS));
  }, 30_000);

  it("declares the group: its membership and a firewall of swarm ports applied to its three servers", () => {
    expect(all("berth:index:NodeGroup").map((r) => r.name)).toEqual(["web"]);
    const fw = one("hcloud:index/firewall:Firewall", "web-swarm-firewall");
    const servers = ["web-1", "web-2", "web-3"].map((n) => one("hcloud:index/server:Server", `${n}-server`));
    expect(fw.inputs.applyTos).toEqual(servers.map((s) => ({ server: Number(s.id) })));
    const rules = fw.inputs.rules as { protocol: string; port?: string; sourceIps: string[] }[];
    expect(rules.map((r) => `${r.port ?? "-"}/${r.protocol}`)).toEqual([
      "2377/tcp",
      "7946/tcp",
      "7946/udp",
      "4789/udp",
      "-/esp",
      // The group's berth-proxy port: the leader asks each node's proxy before "applied".
      "18080/tcp",
    ]);
    // Only the group's own nodes, one /32 each; never the world.
    for (const r of rules) {
      expect(r.sourceIps).toEqual(IPS.map((ip) => `${ip}/32`));
    }
    // The node firewalls stay as they were (80, 443, SSH from the listed sources).
    const node = one("hcloud:index/firewall:Firewall", "web-1-firewall");
    expect((node.inputs.rules as { port: string }[]).map((r) => r.port)).not.toContain("2377");
  });

  it("the membership: the first manager leads, the state's keys of each node, its address, signed by the program", () => {
    const m = one("pulumi-nodejs:dynamic:Resource", "web-membership");
    expect(m.inputs).toMatchObject({
      berthKind: "swarm-membership",
      group: "web",
      leader: "web-2",
      members: ["web-1", "web-2", "web-3"].map((id) => ({
        nodeId: id,
        role: id === "web-2" ? "manager" : "worker",
        publicKey: `mock-sealing-key-of-${id}`,
        statusKey: `mock-status-key-of-${id}`,
      })),
    });
    // The servers' addresses in the mocks: 203.0.113.10, .11, .12 in declaration order.
    expect(m.inputs.leaderAddress).toBe("203.0.113.11");
    expect((m.inputs.members as { address: string }[]).map((x) => x.address)).toEqual(IPS);
    expect(m.secretInputs).toEqual(expect.arrayContaining(["signingKey", "channel"]));
  });

  it("the release goes to the leading manager, rendered for Swarm, the volume on the node with its disk", () => {
    const r = one("pulumi-nodejs:dynamic:Resource", "shop-release");
    expect(r.inputs).toMatchObject({
      nodeId: "web-2",
      nodeKeys: { publicKey: "mock-sealing-key-of-web-2", statusKey: "mock-status-key-of-web-2" },
      swarm: {
        group: "web",
        volumeNodes: { db_data: "web-3" },
        // The proxy on every node: the image pinned at each release, the default port.
        proxy: { image: "registry.example.com/ops/haproxy:2.6", port: 18080 },
      },
    });
    // The key that versions secret names is the program's own, a secret, never the enrollment key.
    const swarm = r.inputs.swarm as { versionKey: string };
    expect(swarm.versionKey).toMatch(/^[0-9a-f]{64}$/);
    expect(r.secretInputs).toContain("swarm");
    // The volume's disk hangs on the node that holds it.
    const attach = one("hcloud:index/volumeAttachment:VolumeAttachment", "shop-db_data-attachment");
    expect(attach.inputs.serverId).toBe(Number(one("hcloud:index/server:Server", "web-3-server").id));
  });

  it("one proxied DNS record per node for each route host", () => {
    const records = all("cloudflare:index/dnsRecord:DnsRecord");
    expect(records.map((r) => r.name).sort()).toEqual(
      ["web-1", "web-2", "web-3"].map((n) => `shop-dns-shop.example.com-${n}`),
    );
    expect(records.map((r) => r.inputs.content)).toEqual(IPS);
    for (const r of records) expect(r.inputs).toMatchObject({ name: "shop.example.com", proxied: true });
  });
});
