// The node's firewall as pure data: what a node serves (HTTP and HTTPS for the node proxy) and,
// only when asked, SSH from the listed sources. Rendered for hcloud.Firewall and for a Scaleway
// security group by the two functions below.
import { isIP } from "node:net";

export const WORLD = ["0.0.0.0/0", "::/0"] as const;

export interface FirewallRule {
  protocol: "tcp";
  port: number;
  /** CIDRs allowed in. */
  sources: string[];
  description: string;
}

export interface FirewallPlan {
  rules: FirewallRule[];
  /** Things a reviewer should see (the policy pack catches them too). */
  warnings: string[];
}

export interface FirewallOptions {
  /** Open SSH (22/tcp) to these CIDRs only. Absent: no SSH at all. */
  allowSsh?: { sources: readonly string[] };
}

export class FirewallError extends Error {}

/** A CIDR (an address alone means a single host: /32 or /128), normalized. */
export function normalizeCidr(text: string): string | undefined {
  const [addr, bits, extra] = text.trim().split("/");
  if (addr === undefined || extra !== undefined) return undefined;
  const family = isIP(addr);
  if (family === 0) return undefined;
  const max = family === 4 ? 32 : 128;
  if (bits === undefined) return `${addr}/${max}`;
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) return undefined;
  return `${addr}/${Number(bits)}`;
}

export function nodeFirewallRules(o: FirewallOptions = {}): FirewallPlan {
  const rules: FirewallRule[] = [
    { protocol: "tcp", port: 80, sources: [...WORLD], description: "HTTP (node proxy)" },
    { protocol: "tcp", port: 443, sources: [...WORLD], description: "HTTPS (node proxy)" },
  ];
  const warnings: string[] = [];
  if (o.allowSsh) {
    if (o.allowSsh.sources.length === 0) {
      throw new FirewallError("allowSsh.sources: list at least one CIDR (or leave allowSsh out: no SSH)");
    }
    const sources = o.allowSsh.sources.map((s, i) => {
      const c = normalizeCidr(s);
      if (!c)
        throw new FirewallError(`allowSsh.sources[${i}]: ${JSON.stringify(s)} is not an IP address or CIDR`);
      return c;
    });
    const unique = [...new Set(sources)].sort();
    if (unique.some((c) => c.endsWith("/0"))) {
      warnings.push(
        "SSH (22/tcp) is open to the whole internet (a /0 source is listed in allowSsh.sources); the policy pack flags this",
      );
    }
    rules.push({ protocol: "tcp", port: 22, sources: unique, description: "SSH (allowSsh)" });
  }
  return { rules, warnings };
}

/** Rules for hcloud.Firewall (inbound only: Hetzner allows all outbound when no out rule exists). */
export function hcloudFirewallRules(plan: FirewallPlan) {
  return plan.rules.map((r) => ({
    direction: "in",
    protocol: r.protocol,
    port: String(r.port),
    sourceIps: r.sources,
    description: r.description,
  }));
}

/** A Scaleway security group: inbound dropped unless a rule accepts it, outbound accepted. */
export function scalewaySecurityGroup(plan: FirewallPlan) {
  return {
    inboundDefaultPolicy: "drop",
    outboundDefaultPolicy: "accept",
    stateful: true,
    inboundRules: plan.rules.flatMap((r) =>
      r.sources.map((ipRange) => ({ action: "accept", protocol: "TCP", port: r.port, ipRange })),
    ),
  };
}
