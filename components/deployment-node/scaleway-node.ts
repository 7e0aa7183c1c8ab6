// A Scaleway node: an instance server (Debian 13 "trixie") with a flexible IPv4, a security group
// that drops inbound traffic except what the node serves, and the berth cloud-init user data.
// Called by the DeploymentNode component for `provider: scaleway`.
//
// Scaleway attaches block volumes through the server (`additionalVolumeIds`), so the volumes of
// the environments placed here are created first (createScalewayVolume) and passed in; a change
// of that list stops and starts the server (Scaleway's own behaviour). User data on Scaleway is
// updated in place (cloud-init only reads it at first boot), so no ignoreChanges is needed.
import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import type * as scaleway from "@pulumiverse/scaleway";
import { scalewaySdk } from "../cloud-sdks";
import { parseArgs, type ScalewayNodeArgsPlain, scalewayNodeArgsSchema } from "./args";
import { nodeFirewallRules, scalewaySecurityGroup } from "./firewall";
import { type CloudNode, type NodeCloudInitArgs, renderNodeUserData } from "./hcloud-node";

/** Scaleway's marketplace label of Debian 13. */
export const SCALEWAY_IMAGE = "debian_trixie";

export interface ScalewayNodeArgs extends ScalewayNodeArgsPlain {
  cloudInit: NodeCloudInitArgs;
  /** Block volumes (createScalewayVolume) to attach; they must be in the same zone. */
  additionalVolumeIds?: pulumi.Input<pulumi.Input<string>[]>;
  tags?: string[];
  /**
   * A node group's swarm ports (swarm-firewall.ts: scalewaySwarmRules), accepted in this node's
   * security group besides what it serves. An Output of the group's addresses: a Scaleway server
   * has one security group, so the group's rules live in each member's.
   */
  swarmRules?: pulumi.Input<{ action: string; protocol: string; port?: number; ipRange: string }[]>;
}

export interface ScalewayNode extends CloudNode<scaleway.instance.Server, scaleway.instance.SecurityGroup> {
  ip: scaleway.instance.Ip;
  zone: string;
}

export function createScalewayNode(
  name: string,
  args: ScalewayNodeArgs,
  parent?: pulumi.Resource,
): ScalewayNode {
  const { cloudInit, additionalVolumeIds, tags, swarmRules, ...plain } = args;
  const a = parseArgs(scalewayNodeArgsSchema, plain, `${name}`);
  const plan = nodeFirewallRules(a.allowSsh ? { allowSsh: a.allowSsh } : {});
  const userData = renderNodeUserData(a.nodeId, cloudInit, undefined, a.role);
  const nodeTags = [...(tags ?? []), `berth-node=${a.nodeId}`, `berth-role=${a.role}`];
  const project = a.projectId ? { projectId: a.projectId } : {};

  const group = scalewaySecurityGroup(plan);
  const firewall = new (scalewaySdk().instance.SecurityGroup)(
    `${name}-security-group`,
    {
      name: `berth-${a.nodeId}`,
      zone: a.zone,
      tags: nodeTags,
      ...project,
      ...group,
      ...(swarmRules
        ? {
            inboundRules: pulumi.output(swarmRules).apply((extra) => [...group.inboundRules, ...extra]),
          }
        : {}),
    },
    { parent },
  );
  const ip = new (scalewaySdk().instance.Ip)(
    `${name}-ip`,
    { zone: a.zone, type: "routed_ipv4", tags: nodeTags, ...project },
    { parent },
  );
  const server = new (scalewaySdk().instance.Server)(
    `${name}-server`,
    {
      name: a.nodeId,
      type: a.serverType,
      image: SCALEWAY_IMAGE,
      zone: a.zone,
      ipId: ip.id,
      securityGroupId: firewall.id,
      rootVolume: { sizeInGb: a.rootVolumeSizeGb, volumeType: "sbs_volume" },
      additionalVolumeIds: additionalVolumeIds ?? [],
      userData: { "cloud-init": userData },
      tags: nodeTags,
      ...project,
    },
    { parent, additionalSecretOutputs: ["userData"] },
  );
  return {
    server,
    firewall,
    ip,
    nodeId: a.nodeId,
    zone: a.zone,
    ipv4: ip.address,
    serverId: server.id,
    userData,
    userDataHash: userData.apply((u) => createHash("sha256").update(u).digest("hex")),
    warnings: plan.warnings,
  };
}
