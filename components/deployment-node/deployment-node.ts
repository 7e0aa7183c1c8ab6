// DeploymentNode: one machine that runs the berth agent. Thin: it picks the provider's function
// (createHcloudNode, createScalewayNode) or, for `local`, the LocalNode dynamic resource (the
// agent as a background process of this machine), parents what they declare to itself and
// exposes the same outputs for all three.
import * as pulumi from "@pulumi/pulumi";
import { LocalNode, type LocalNodeArgs } from "../local/local-node";
import { createHcloudNode, type HcloudNodeArgs } from "./hcloud-node";
import { NodeIdentity, type NodeIdentityArgs } from "./node-identity";
import { createScalewayNode, type ScalewayNodeArgs } from "./scaleway-node";

/** How a cloud node's identity is taken on first contact (NodeIdentity; the serverId is the node's own). */
export type CloudIdentityArgs = Omit<NodeIdentityArgs, "nodeId" | "serverId">;

export type DeploymentNodeArgs =
  | ({ provider: "hcloud"; identity: CloudIdentityArgs } & HcloudNodeArgs)
  | ({ provider: "scaleway"; identity: CloudIdentityArgs } & ScalewayNodeArgs)
  | ({ provider: "local" } & LocalNodeArgs);

export class DeploymentNode extends pulumi.ComponentResource {
  readonly provider: DeploymentNodeArgs["provider"];
  /** What the node runs: releases ("deployment") or devcontainer workspaces ("workspace"). */
  readonly role: "deployment" | "workspace";
  readonly nodeId: pulumi.Output<string>;
  /** The public IPv4 address (local: 127.0.0.1). */
  readonly ipv4: pulumi.Output<string>;
  /** Hetzner location, Scaleway zone, or "local": volumes must be created there. */
  readonly location: string;
  /** The cloud server's id (local: the agent's process id). */
  readonly serverId: pulumi.Output<string>;
  /** The node's X25519 sealing key, taken on first contact and kept in the state. */
  readonly publicKey: pulumi.Output<string>;
  /** The node's Ed25519 status key, taken on first contact and kept in the state. */
  readonly statusKey: pulumi.Output<string>;
  /** SHA-256 of the user data a new server would get (cloud only). */
  readonly userDataHash?: pulumi.Output<string>;
  /** Firewall findings a reviewer should see (SSH open to the world). */
  readonly warnings: string[];
  /** local: the agent's log file. */
  readonly logFile?: pulumi.Output<string>;
  /** The resource that is the machine (hcloud/Scaleway server, or the LocalNode): for dependsOn. */
  readonly machine: pulumi.CustomResource;
  /** cloud: the hcloud firewall or Scaleway security group. */
  readonly firewall?: pulumi.CustomResource;

  constructor(name: string, args: DeploymentNodeArgs, opts?: pulumi.ComponentResourceOptions) {
    super("berth:index:DeploymentNode", name, {}, opts);
    this.provider = args.provider;
    this.role = ("role" in args && args.role) || "deployment";
    if (args.provider === "local") {
      const { provider: _p, ...local } = args;
      const agent = new LocalNode(`${name}-agent`, local, { parent: this });
      this.nodeId = agent.nodeId;
      this.ipv4 = pulumi.output("127.0.0.1");
      this.location = "local";
      this.serverId = agent.pid.apply(String);
      this.warnings = [];
      this.logFile = agent.logFile;
      this.machine = agent;
      this.publicKey = agent.publicKey;
      this.statusKey = agent.statusKey;
    } else {
      const node =
        args.provider === "hcloud"
          ? (({ provider: _p, identity: _i, ...a }) => createHcloudNode(name, a, this))(args)
          : (({ provider: _p, identity: _i, ...a }) => createScalewayNode(name, a, this))(args);
      this.nodeId = pulumi.output(node.nodeId);
      this.ipv4 = node.ipv4;
      this.location = "location" in node ? node.location : node.zone;
      this.serverId = node.serverId;
      this.userDataHash = node.userDataHash;
      this.warnings = node.warnings;
      this.machine = node.server;
      this.firewall = node.firewall;
      for (const w of node.warnings) pulumi.log.warn(`node ${node.nodeId}: ${w}`, this);
      const identity = new NodeIdentity(
        `${name}-identity`,
        { ...args.identity, nodeId: node.nodeId, serverId: node.serverId },
        { parent: this, dependsOn: [node.server] },
      );
      this.publicKey = identity.publicKey;
      this.statusKey = identity.statusKey;
    }
    this.registerOutputs({
      nodeId: this.nodeId,
      ipv4: this.ipv4,
      location: this.location,
      serverId: this.serverId,
      userDataHash: this.userDataHash,
      publicKey: this.publicKey,
      statusKey: this.statusKey,
    });
  }
}
