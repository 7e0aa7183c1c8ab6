// No firewall rule lets the whole internet reach SSH (22/tcp): hcloud firewalls and Scaleway
// security groups (and their separate rule sets). berth's nodes need no SSH at all: the agent
// pulls its releases.
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { isRecord, known, knownItems } from "./berth-resources";

export const HCLOUD_FIREWALL = "hcloud:index/firewall:Firewall";
export const SCALEWAY_SECURITY_GROUPS = [
  "scaleway:instance/securityGroup:SecurityGroup",
  "scaleway:index/instanceSecurityGroup:InstanceSecurityGroup",
];
export const SCALEWAY_SECURITY_GROUP_RULES = [
  "scaleway:instance/securityGroupRules:SecurityGroupRules",
  "scaleway:index/instanceSecurityGroupRules:InstanceSecurityGroupRules",
];

const SSH = 22;

/** A CIDR with a /0 prefix: every address of its family. */
export function isWholeInternet(cidr: unknown): boolean {
  return typeof cidr === "string" && /\/0$/.test(cidr.trim());
}

/** Whether a port spec ("22", "20-30", "any", a number, nothing = every port) covers `port`. */
export function portCovers(spec: unknown, port: number): boolean {
  if (spec === undefined || spec === null || spec === "" || spec === "any") return true;
  if (typeof spec === "number") return spec === port;
  if (typeof spec !== "string") return false;
  const m = /^\s*(\d+)\s*(?:-\s*(\d+))?\s*$/.exec(spec);
  if (!m) return false;
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  return lo <= port && port <= hi;
}

/** hcloud: inbound TCP rules whose port covers 22 and whose sources include a /0. */
export function hcloudWorldSshRules(props: Record<string, unknown>): string[] {
  const found: string[] = [];
  knownItems(known(() => props.rules)).forEach((rule, i) => {
    if (!isRecord(rule)) return;
    const r = Object.fromEntries(
      ["direction", "protocol", "port", "sourceIps"].map((k) => [k, known(() => rule[k])]),
    );
    if (r.direction !== "in" || String(r.protocol).toLowerCase() !== "tcp") return;
    if (!portCovers(r.port, SSH)) return;
    const world = knownItems(r.sourceIps).filter(isWholeInternet);
    if (world.length > 0) found.push(`rules[${i}] (port ${r.port ?? "any"} from ${world.join(", ")})`);
  });
  return found;
}

interface ScalewayRule {
  action?: unknown;
  protocol?: unknown;
  port?: unknown;
  portRange?: unknown;
  ipRange?: unknown;
  ip?: unknown;
}

/** Whether a Scaleway inbound rule applies to SSH traffic from anywhere on the internet. */
function scalewayRuleMatchesWorldSsh(r: ScalewayRule): boolean {
  const protocol = String(r.protocol ?? "TCP").toUpperCase();
  if (protocol !== "TCP" && protocol !== "ANY") return false;
  const port = r.port !== undefined && r.port !== null ? r.port : r.portRange;
  if (!portCovers(port, SSH)) return false;
  if (r.ip !== undefined && r.ip !== null && r.ip !== "") return false;
  // Scaleway's default ipRange is 0.0.0.0/0.
  return r.ipRange === undefined || r.ipRange === null || r.ipRange === "" || isWholeInternet(r.ipRange);
}

function scalewayRules(props: Record<string, unknown>): ScalewayRule[] {
  return knownItems(known(() => props.inboundRules))
    .filter(isRecord)
    .map((rule) =>
      Object.fromEntries(
        ["action", "protocol", "port", "portRange", "ipRange", "ip"].map((k) => [k, known(() => rule[k])]),
      ),
    );
}

/**
 * Scaleway: the first inbound rule that matches SSH from anywhere decides; with none, the group's
 * inbound default policy does (Scaleway's default is accept). `withDefault` is false for a rule
 * set, whose group's default lives on another resource.
 */
export function scalewayWorldSsh(props: Record<string, unknown>, withDefault: boolean): string | undefined {
  const rules = scalewayRules(props);
  const i = rules.findIndex(scalewayRuleMatchesWorldSsh);
  if (i >= 0) {
    const action = String(rules[i]?.action ?? "").toLowerCase();
    return action === "accept"
      ? `inboundRules[${i}] accepts 22/tcp from ${rules[i]?.ipRange ?? "0.0.0.0/0"}`
      : undefined;
  }
  if (!withDefault) return undefined;
  const policy = known(() => props.inboundDefaultPolicy);
  if (policy === undefined && "inboundDefaultPolicy" in props) return undefined; // unknown in preview
  return String(policy ?? "accept").toLowerCase() === "accept"
    ? `inboundDefaultPolicy is ${policy === undefined ? "not set (Scaleway accepts by default)" : "accept"} and no rule drops 22/tcp`
    : undefined;
}

export const sshNotOpenToWorld: ResourceValidationPolicy = {
  name: "berth-ssh-not-open-to-world",
  description: "No firewall rule opens SSH (22/tcp) to the whole internet (a /0 source).",
  enforcementLevel: "mandatory",
  validateResource: (args, reportViolation) => {
    const what = "SSH (22/tcp) is open to the whole internet";
    const fix =
      "list your own addresses (allowSsh.sources), or leave SSH closed: berth's nodes pull their releases";
    if (args.type === HCLOUD_FIREWALL) {
      const rules = hcloudWorldSshRules(args.props);
      if (rules.length > 0) reportViolation(`firewall '${args.name}': ${what}: ${rules.join("; ")}; ${fix}`);
    } else if (SCALEWAY_SECURITY_GROUPS.includes(args.type)) {
      const why = scalewayWorldSsh(args.props, true);
      if (why) reportViolation(`security group '${args.name}': ${what}: ${why}; ${fix}`);
    } else if (SCALEWAY_SECURITY_GROUP_RULES.includes(args.type)) {
      const why = scalewayWorldSsh(args.props, false);
      if (why) reportViolation(`security group rules '${args.name}': ${what}: ${why}; ${fix}`);
    }
  },
};
