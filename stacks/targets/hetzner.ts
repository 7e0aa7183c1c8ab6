// The hetzner target: a Hetzner Cloud server + firewall per node, hcloud volumes attached to it,
// the shared channel, registry and environments (cloud.ts).
import { DeploymentNode } from "../../components/deployment-node/deployment-node";
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

export function deployHetzner(ctx: ProgramContext): ProgramOutputs {
  const channel = cloudChannel(ctx);
  const registry = cloudRegistry(ctx);
  const nodes = new Map<string, DeploymentNode>();
  for (const n of ctx.config.nodes) {
    if (n.provider !== "hcloud") continue;
    const { id, provider: _p, commands: _c, ...plain } = n;
    nodes.set(
      id,
      new DeploymentNode(
        id,
        {
          provider: "hcloud",
          nodeId: id,
          ...plain,
          cloudInit: nodeCloudInit(ctx, channel, id),
          identity: nodeIdentityArgs(ctx, channel, id),
        },
        // The agent bundle is in the channel before a server boots and asks for it.
        { dependsOn: [channel] },
      ),
    );
  }
  const volumes = new Map<string, EnvironmentVolume[]>();
  for (const v of volumesByNode(ctx.config)) {
    const node = nodes.get(v.nodeId);
    if (!node) continue;
    const volume = new EnvironmentVolume(v.name, {
      provider: "hcloud",
      environmentId: v.environmentId,
      volumeName: v.volume.name,
      sizeGb: v.volume.sizeGb,
      nodeLocation: node.location,
      countOnNode: v.countOnNode,
      serverId: node.serverId,
      deleteProtection: v.volume.protect,
    });
    volumes.set(v.environmentId, [...(volumes.get(v.environmentId) ?? []), volume]);
  }
  return cloudEnvironments(ctx, { nodes, channel, registry, volumes });
}
