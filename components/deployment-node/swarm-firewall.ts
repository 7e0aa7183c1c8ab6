// The swarm ports of a node group (issue 23), as pure data: Docker Swarm's cluster management
// (2377/tcp), node gossip (7946/tcp and udp), the overlay's VXLAN (4789/udp) and IPsec ESP for
// encrypted overlays, each open only to the group's own nodes (their public IPv4s, /32); and the
// port of the group's `berth-proxy` (berth:nodeGroups[].proxy.port), which the leader's agent asks
// for each node's readiness before it reports a release applied (node-agent/swarm/proxy-ready.ts).
// Nothing else reaches them: the node firewall (firewall.ts) opens only 80 and 443 to the world.
// Rendered for an hcloud.Firewall applied to the group's servers and for the rules of a Scaleway
// security group by the two functions below.
import { normalizeCidr } from "./firewall";

export interface SwarmPort {
  protocol: "tcp" | "udp" | "esp";
  /** Absent for ESP, which has no ports. */
  port?: number;
  description: string;
}

export const SWARM_PORTS: readonly SwarmPort[] = [
  { protocol: "tcp", port: 2377, description: "Swarm cluster management" },
  { protocol: "tcp", port: 7946, description: "Swarm node gossip" },
  { protocol: "udp", port: 7946, description: "Swarm node gossip" },
  { protocol: "udp", port: 4789, description: "Swarm overlay networks (VXLAN)" },
  { protocol: "esp", description: "Swarm encrypted overlays (IPsec ESP)" },
];

export interface SwarmFirewallRule extends SwarmPort {
  /** The group's nodes, one /32 each, sorted. */
  sources: string[];
}

export class SwarmFirewallError extends Error {}

/**
 * The inbound rules every node of `group` needs: each swarm port, from the group's nodes only.
 * Refuses an address that is not one host's IPv4 and a node listed twice, naming the node.
 */
export function swarmFirewallRules(o: {
  group: string;
  members: readonly { nodeId: string; ipv4: string }[];
  /** The group's proxy port, when its environments have a proxy. */
  proxyPort?: number | undefined;
}): SwarmFirewallRule[] {
  if (o.members.length === 0)
    throw new SwarmFirewallError(`node group ${o.group}: no nodes (berth:nodeGroups[].nodes)`);
  const seen = new Set<string>();
  const sources = o.members.map((m) => {
    if (seen.has(m.nodeId))
      throw new SwarmFirewallError(`node group ${o.group}: node ${m.nodeId} is listed twice`);
    seen.add(m.nodeId);
    const cidr = normalizeCidr(m.ipv4);
    if (!cidr?.endsWith("/32"))
      throw new SwarmFirewallError(
        `node group ${o.group}: node ${m.nodeId}: ${JSON.stringify(m.ipv4)} is not one host's IPv4 address (the swarm ports open only to the group's nodes)`,
      );
    return cidr;
  });
  const unique = [...new Set(sources)].sort();
  const ports: SwarmPort[] = [...SWARM_PORTS];
  if (o.proxyPort !== undefined)
    ports.push({
      protocol: "tcp",
      port: o.proxyPort,
      description: "berth-proxy readiness (the leader asks)",
    });
  return ports.map((p) => ({ ...p, sources: unique }));
}

/** The rules of an hcloud.Firewall (inbound; Hetzner knows ESP as a protocol of its own). */
export function hcloudSwarmFirewallRules(rules: readonly SwarmFirewallRule[]) {
  return rules.map((r) => ({
    direction: "in",
    protocol: r.protocol,
    ...(r.port !== undefined ? { port: String(r.port) } : {}),
    sourceIps: r.sources,
    description: `berth swarm: ${r.description}`,
  }));
}

/**
 * Inbound rules of a Scaleway security group. Scaleway's rules know TCP, UDP, ICMP and ANY only,
 * so ESP becomes ANY from the group's nodes (which reach every swarm port already).
 */
export function scalewaySwarmRules(rules: readonly SwarmFirewallRule[]) {
  return rules.flatMap((r) =>
    r.sources.map((ipRange) => ({
      action: "accept",
      protocol: r.protocol === "esp" ? "ANY" : r.protocol.toUpperCase(),
      ...(r.port !== undefined ? { port: r.port } : {}),
      ipRange,
    })),
  );
}
