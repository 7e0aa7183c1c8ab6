// A Hetzner Cloud node: hcloud.Server (Debian 13) with the berth user data, and an hcloud.Firewall
// attached to it. Called by the DeploymentNode component for `provider: hcloud`.
//
// The firewall is attached through the server's `firewallIds`, so it applies from the server's
// first second (an hcloud.FirewallAttachment would leave a window between server creation and
// attachment, and both together fight over the membership).
//
// User data and replacement: changing `userData` replaces a Hetzner server. The renderer makes
// it stable by construction (a function of node id, channel and trusted keys only, checked by
// tests), and the agent is installed from the channel, so an agent change does not touch it.
// On top of that the server ignores later changes of `userData` and `sshKeys` (both only act at
// first boot, and Hetzner can only apply them by rebuilding): a rotated channel credential or a
// new trusted key does not silently replace a server that holds live traffic and attached
// volumes. `replaceOnUserDataChange: true` opts out (then such a change replaces the server).
// The `userDataHash` output shows what a new server would get.
import { createHash } from "node:crypto";
import type * as hcloud from "@pulumi/hcloud";
import * as pulumi from "@pulumi/pulumi";
import { hcloudSdk } from "../cloud-sdks";
import { type HcloudNodeArgsPlain, hcloudNodeArgsSchema, parseArgs } from "./args";
import { HETZNER_USER_DATA_LIMIT, type NodeCloudInitInput, renderCloudInit } from "./cloud-init";
import { hcloudFirewallRules, nodeFirewallRules } from "./firewall";

export const HCLOUD_IMAGE = "debian-13";

export type NodeCloudInit = Omit<NodeCloudInitInput, "maxBytes" | "nodeId">;
/** An Input at every level (e.g. the channel's secret key as a secret Output). */
export type DeepInput<T> = pulumi.Input<T extends object ? { [K in keyof T]: DeepInput<T[K]> } : T>;
export type NodeCloudInitArgs = DeepInput<NodeCloudInit>;

export interface HcloudNodeArgs extends HcloudNodeArgsPlain {
  /** What the renderer needs besides the node id; Outputs are resolved here (secrets stay secret). */
  cloudInit: NodeCloudInitArgs;
  /** Extra labels on the server. */
  labels?: Record<string, string>;
}

export interface CloudNode<S, F> {
  server: S;
  firewall: F;
  nodeId: string;
  /** The public IPv4 address. */
  ipv4: pulumi.Output<string>;
  serverId: pulumi.Output<string>;
  /** Secret: it carries the channel's secret key. */
  userData: pulumi.Output<string>;
  userDataHash: pulumi.Output<string>;
  /** Firewall findings a reviewer should see (e.g. SSH open to the world). */
  warnings: string[];
}

export interface HcloudNode extends CloudNode<hcloud.Server, hcloud.Firewall> {
  /** The server's location: volumes must be created there. */
  location: string;
}

export function renderNodeUserData(
  nodeId: string,
  cloudInit: NodeCloudInitArgs,
  maxBytes?: number,
  role: "deployment" | "workspace" = "deployment",
): pulumi.Output<string> {
  return pulumi.secret(
    pulumi
      .output(cloudInit)
      .apply((ci) =>
        renderCloudInit({ ...(ci as NodeCloudInit), nodeId, role, ...(maxBytes ? { maxBytes } : {}) }),
      ),
  );
}

export function createHcloudNode(name: string, args: HcloudNodeArgs, parent?: pulumi.Resource): HcloudNode {
  const { cloudInit, labels, ...plain } = args;
  const a = parseArgs(hcloudNodeArgsSchema, plain, `${name}`);
  const plan = nodeFirewallRules(a.allowSsh ? { allowSsh: a.allowSsh } : {});
  const userData = renderNodeUserData(a.nodeId, cloudInit, HETZNER_USER_DATA_LIMIT, a.role);
  const nodeLabels = { ...labels, "berth-node": a.nodeId, "berth-role": a.role };

  const firewall = new (hcloudSdk().Firewall)(
    `${name}-firewall`,
    { name: `berth-${a.nodeId}`, labels: nodeLabels, rules: hcloudFirewallRules(plan) },
    { parent },
  );
  const server = new (hcloudSdk().Server)(
    `${name}-server`,
    {
      name: a.nodeId,
      image: HCLOUD_IMAGE,
      serverType: a.serverType,
      location: a.location,
      sshKeys: a.sshKeys,
      userData,
      labels: nodeLabels,
      // Attached at creation, so the server never runs a moment without it.
      firewallIds: [firewall.id.apply(Number)],
      publicNets: [{ ipv4Enabled: true, ipv6Enabled: true }],
      deleteProtection: a.deleteProtection,
      rebuildProtection: a.deleteProtection,
      shutdownBeforeDeletion: true,
    },
    {
      parent,
      ignoreChanges: a.replaceOnUserDataChange ? ["sshKeys"] : ["userData", "sshKeys"],
      additionalSecretOutputs: ["userData"],
    },
  );
  return {
    server,
    firewall,
    nodeId: a.nodeId,
    location: a.location,
    ipv4: server.ipv4Address,
    serverId: server.id,
    userData,
    userDataHash: userData.apply((u) => createHash("sha256").update(u).digest("hex")),
    warnings: plan.warnings,
  };
}
