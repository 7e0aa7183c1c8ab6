// NodeGroup (issue 23): the nodes of berth:nodeGroups[] that form one Docker Swarm. Thin: it
// publishes the group's signed membership (SwarmMembership: the nodes' roles and the keys the
// state pins for them; the agents form the swarm from it) and, on Hetzner, an hcloud.Firewall
// applied to the group's servers that opens the swarm ports to the group's nodes only
// (components/deployment-node/swarm-firewall.ts; on Scaleway the same rules are in each member's
// security group). The first manager leads: it initialises the
// swarm, writes the join offers, and receives the group's releases. On the local target the
// members are local nodes whose agents each drive one Docker Engine of this machine (the swarm
// test bed's), and there is no firewall to make.
import type * as hcloud from "@pulumi/hcloud";
import * as pulumi from "@pulumi/pulumi";
import type { ChannelSpec } from "../../contract/channel/access";
import { hcloudSdk } from "../cloud-sdks";
import { hcloudSwarmFirewallRules, swarmFirewallRules } from "../deployment-node/swarm-firewall";
import { SwarmMembership } from "./swarm-membership";

/** What a group needs of each member node (a DeploymentNode, or the local target's LocalNode). */
export interface GroupMember {
  provider: string;
  /** The address the node advertises to the swarm (a cloud node's public IPv4). */
  ipv4: pulumi.Output<string>;
  publicKey: pulumi.Output<string>;
  statusKey: pulumi.Output<string>;
  /** hcloud: the server the firewall applies to. */
  serverId?: pulumi.Output<string>;
  /** The resource the membership waits for. */
  resource: pulumi.Resource;
}

export interface NodeGroupArgs {
  /** berth:nodeGroups[].name */
  name: string;
  /** The group's nodes by berth id, in config order. */
  nodes: { id: string; node: GroupMember }[];
  /** Their ids that are managers (1 or 3); the first leads. */
  managers: string[];
  channel: pulumi.Input<ChannelSpec>;
  signingKey: pulumi.Input<string>;
  /** berth:nodeGroups[].proxy.port: opened between the group's nodes (the leader asks each proxy). */
  proxyPort?: number | undefined;
}

export class NodeGroupError extends Error {}

export class NodeGroup extends pulumi.ComponentResource {
  readonly name: string;
  /** The leading manager: the group's releases are published to it. */
  readonly leader: GroupMember;
  readonly leaderId: string;
  readonly membership: SwarmMembership;
  /** Hetzner: the swarm ports' firewall, applied to the group's servers. */
  readonly firewall?: hcloud.Firewall;
  /** The nodes' public IPv4s (one DNS record per node for each route host). */
  readonly ipv4s: pulumi.Output<string[]>;

  constructor(name: string, args: NodeGroupArgs, opts?: pulumi.ComponentResourceOptions) {
    super("berth:index:NodeGroup", name, {}, opts);
    this.name = args.name;
    const ids = args.nodes.map((n) => n.id);
    const nodes = args.nodes.map((n) => n.node);
    const leaderId = args.managers[0];
    const leader = nodes[ids.indexOf(leaderId ?? "")];
    if (leaderId === undefined || leader === undefined)
      throw new NodeGroupError(`node group ${args.name}: its first manager is not one of its nodes`);
    const providers = new Set(nodes.map((n) => n.provider));
    if (providers.size !== 1)
      throw new NodeGroupError(
        `node group ${args.name}: its nodes are on ${[...providers].join(" and ")}: a swarm's nodes must be on one provider (berth:nodeGroups[].nodes)`,
      );
    const provider = [...providers][0];
    if (provider !== "hcloud" && provider !== "scaleway" && provider !== "local")
      throw new NodeGroupError(
        `node group ${args.name}: node groups are for cloud nodes (hcloud, scaleway) or the local target's local nodes, not ${provider}`,
      );
    this.leader = leader;
    this.leaderId = leaderId;
    this.ipv4s = pulumi.all(nodes.map((n) => n.ipv4));
    const members = this.ipv4s.apply((ips) => ips.map((ipv4, i) => ({ nodeId: ids[i] as string, ipv4 })));
    // Hetzner: a firewall of the group's own, applied to its servers. Scaleway: a server has one
    // security group, so the rules are in each member's (the scaleway target passes swarmRules).
    if (provider === "hcloud")
      this.firewall = new (hcloudSdk().Firewall)(
        `${name}-swarm-firewall`,
        {
          name: `berth-swarm-${args.name}`,
          labels: { "berth-group": args.name },
          rules: members.apply((m) =>
            hcloudSwarmFirewallRules(
              swarmFirewallRules({ group: args.name, members: m, proxyPort: args.proxyPort }),
            ),
          ),
          applyTos: nodes.map((n) => ({ server: (n.serverId ?? pulumi.output("0")).apply(Number) })),
        },
        { parent: this },
      );
    this.membership = new SwarmMembership(
      `${name}-membership`,
      {
        channel: args.channel,
        signingKey: args.signingKey,
        group: args.name,
        leader: leaderId,
        leaderAddress: leader.ipv4,
        members: nodes.map((n, i) => ({
          nodeId: ids[i] as string,
          role: args.managers.includes(ids[i] as string) ? "manager" : "worker",
          publicKey: n.publicKey,
          statusKey: n.statusKey,
          address: n.ipv4,
        })),
      },
      // The swarm ports are open before the agents form the swarm.
      {
        parent: this,
        dependsOn: [...(this.firewall ? [this.firewall] : []), ...nodes.map((n) => n.resource)],
      },
    );
    this.registerOutputs({
      leaderId,
      ipv4s: this.ipv4s,
      generation: this.membership.generation,
    });
  }
}
