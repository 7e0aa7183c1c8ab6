import { describe, expect, it } from "vitest";
import {
  hcloudSwarmFirewallRules,
  SWARM_PORTS,
  scalewaySwarmRules,
  swarmFirewallRules,
} from "./swarm-firewall";

const members = [
  { nodeId: "web-2", ipv4: "203.0.113.12" },
  { nodeId: "web-1", ipv4: "203.0.113.11" },
  { nodeId: "web-3", ipv4: "203.0.113.13/32" },
];

describe("swarmFirewallRules", () => {
  it("opens each swarm port to the group's nodes only, one /32 each", () => {
    const rules = swarmFirewallRules({ group: "web", members });
    expect(rules.map((r) => `${r.port ?? "-"}/${r.protocol}`)).toEqual([
      "2377/tcp",
      "7946/tcp",
      "7946/udp",
      "4789/udp",
      "-/esp",
    ]);
    for (const r of rules)
      expect(r.sources).toEqual(["203.0.113.11/32", "203.0.113.12/32", "203.0.113.13/32"]);
    // Never the world, never a range.
    expect(rules.flatMap((r) => r.sources).some((s) => !s.endsWith("/32"))).toBe(false);
  });

  it("with a proxy port: that port too, from the group's nodes only", () => {
    const rules = swarmFirewallRules({ group: "web", members, proxyPort: 18080 });
    expect(rules.at(-1)).toEqual({
      protocol: "tcp",
      port: 18080,
      description: "berth-proxy readiness (the leader asks)",
      sources: ["203.0.113.11/32", "203.0.113.12/32", "203.0.113.13/32"],
    });
  });

  it("refuses what is not one host's IPv4, naming the group and the node", () => {
    for (const ipv4 of ["0.0.0.0/0", "203.0.113.0/24", "2001:db8::1", "web-1", ""])
      expect(() => swarmFirewallRules({ group: "web", members: [{ nodeId: "web-1", ipv4 }] })).toThrow(
        /node group web: node web-1: .* is not one host's IPv4 address/,
      );
  });

  it("refuses a node listed twice and an empty group", () => {
    expect(() =>
      swarmFirewallRules({ group: "web", members: [members[0]!, { ...members[0]!, ipv4: "203.0.113.99" }] }),
    ).toThrow(/node web-2 is listed twice/);
    expect(() => swarmFirewallRules({ group: "web", members: [] })).toThrow(/node group web: no nodes/);
  });
});

describe("rendered for the providers", () => {
  const rules = swarmFirewallRules({ group: "web", members: members.slice(0, 2) });

  it("hcloud: inbound rules, ESP without a port", () => {
    const h = hcloudSwarmFirewallRules(rules);
    expect(h).toHaveLength(SWARM_PORTS.length);
    expect(h[0]).toEqual({
      direction: "in",
      protocol: "tcp",
      port: "2377",
      sourceIps: ["203.0.113.11/32", "203.0.113.12/32"],
      description: "berth swarm: Swarm cluster management",
    });
    expect(h.find((r) => r.protocol === "esp")).not.toHaveProperty("port");
  });

  it("Scaleway: one accept rule per source, ESP as ANY from the group's nodes", () => {
    const s = scalewaySwarmRules(rules);
    expect(s).toHaveLength(SWARM_PORTS.length * 2);
    expect(s).toContainEqual({ action: "accept", protocol: "UDP", port: 4789, ipRange: "203.0.113.12/32" });
    expect(s.filter((r) => r.protocol === "ANY").map((r) => r.ipRange)).toEqual([
      "203.0.113.11/32",
      "203.0.113.12/32",
    ]);
    expect(s.every((r) => r.ipRange.endsWith("/32"))).toBe(true);
  });
});
