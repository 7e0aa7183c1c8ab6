// The scaleway target: block volumes first (Scaleway attaches them through the server), then an
// instance with a flexible IP and a security group per node, the shared channel, registry and
// environments (cloud.ts).
import * as pulumi from "@pulumi/pulumi";
import { DeploymentNode } from "../../components/deployment-node/deployment-node";
import { scalewaySwarmRules, swarmFirewallRules } from "../../components/deployment-node/swarm-firewall";
import { EnvironmentVolume } from "../../components/environment-volume/environment-volume";
import {
  cloudChannel,
  cloudEnvironments,
  cloudRegistry,
  nodeCloudInit,
  nodeIdentityArgs,
  volumesByNode,
} from "./cloud";
import type { ProgramContext, ProgramOutputs } from "./context";

export function deployScaleway(ctx: ProgramContext): ProgramOutputs {
  const channel = cloudChannel(ctx);
  const registry = cloudRegistry(ctx);
  const projectId = ctx.config.scaleway?.projectId;
  const volumes = new Map<string, EnvironmentVolume[]>();
  const volumeIds = new Map<string, EnvironmentVolume[]>();
  for (const v of volumesByNode(ctx.config)) {
    const n = ctx.config.nodes.find((x) => x.id === v.nodeId);
    if (n?.provider !== "scaleway") continue;
    const volume = new EnvironmentVolume(
      v.name,
      {
        provider: "scaleway",
        environmentId: v.environmentId,
        volumeName: v.volume.name,
        sizeGb: v.volume.sizeGb,
        nodeLocation: n.zone,
        countOnNode: v.countOnNode,
        ...(v.volume.iops ? { iops: v.volume.iops } : {}),
        ...(projectId ? { projectId } : {}),
      },
      { protect: v.volume.protect },
    );
    volumes.set(v.environmentId, [...(volumes.get(v.environmentId) ?? []), volume]);
    volumeIds.set(n.id, [...(volumeIds.get(n.id) ?? []), volume]);
  }
  // A node group's swarm ports go into each member's security group, from the group's addresses,
  // which exist only once its nodes' IPs do: a deferred Output, resolved below.
  const groupAddresses = new Map(
    ctx.config.nodeGroups.map((g) => [g.name, pulumi.deferredOutput<{ nodeId: string; ipv4: string }[]>()]),
  );
  const nodes = new Map<string, DeploymentNode>();
  for (const n of ctx.config.nodes) {
    if (n.provider !== "scaleway") continue;
    const { id, provider: _p, commands: _c, ...plain } = n;
    nodes.set(
      id,
      new DeploymentNode(
        id,
        {
          provider: "scaleway",
          nodeId: id,
          ...plain,
          ...(projectId ? { projectId } : {}),
          cloudInit: nodeCloudInit(ctx, channel, id),
          identity: nodeIdentityArgs(ctx, channel, id),
          additionalVolumeIds: (volumeIds.get(id) ?? []).map((v) => v.volumeId),
          ...swarmRulesOf(ctx, id, groupAddresses),
        },
        { dependsOn: [channel] },
      ),
    );
  }
  for (const g of ctx.config.nodeGroups) {
    const members = g.nodes.map((id) =>
      (nodes.get(id)?.ipv4 ?? pulumi.output("")).apply((ipv4) => ({ nodeId: id, ipv4 })),
    );
    groupAddresses.get(g.name)?.[1](pulumi.all(members));
  }
  return cloudEnvironments(ctx, { nodes, channel, registry, volumes });
}

/** The swarm rules of the node's group, if it is in one (config.ts: a node is in one group at most). */
function swarmRulesOf(
  ctx: ProgramContext,
  nodeId: string,
  addresses: Map<string, [pulumi.Output<{ nodeId: string; ipv4: string }[]>, unknown]>,
) {
  const g = ctx.config.nodeGroups.find((x) => x.nodes.includes(nodeId));
  const deferred = g ? addresses.get(g.name) : undefined;
  if (!g || !deferred) return {};
  return {
    swarmRules: deferred[0].apply((members) =>
      scalewaySwarmRules(swarmFirewallRules({ group: g.name, members, proxyPort: g.proxy?.port })),
    ),
  };
}
