import * as pulumi from "@pulumi/pulumi";
import type { ChannelSpec } from "../../contract/channel/access";
import { PROVIDER_RUNTIME } from "../runtime-path";

export const NODE_IDENTITY_PROVIDER_VERSION = "1";

const runtime = PROVIDER_RUNTIME;
const provider: pulumi.dynamic.ResourceProvider = {
  diff: (id, olds, news) => require(runtime).nodeIdentity.diff(id, olds, news),
  create: (news) => require(runtime).nodeIdentity.create(news),
  update: (id, olds, news) => require(runtime).nodeIdentity.update(id, olds, news),
  read: (id, props) => require(runtime).nodeIdentity.read(id, props),
  delete: () => require(runtime).nodeIdentity.remove(),
};

export interface NodeIdentityArgs {
  nodeId: string;
  /** The server: a new one is a new node, whose keys are taken afresh. */
  serverId: pulumi.Input<string>;
  /** The program's channel access (ReleaseChannel.programSpec). */
  channel: pulumi.Input<ChannelSpec>;
  /** The secret in the node's user data (enrollmentSecretFor(enrollmentKey, nodeId)). */
  enrollmentSecret: pulumi.Input<string>;
  /** The status key id of new keys the operator accepts (berth:acceptNodeKeys.<node>). */
  acceptKey?: pulumi.Input<string>;
  /** How long the first contact may take (boot, packages, agent install). Default 900 s. */
  timeoutSeconds?: number;
}

/**
 * A cloud node's keys, taken on first contact from the identity it publishes (the MAC of its
 * enrollment secret checked) and kept in the state: the Releases seal to these only.
 */
export class NodeIdentity extends pulumi.dynamic.Resource {
  declare readonly publicKey: pulumi.Output<string>;
  declare readonly statusKey: pulumi.Output<string>;

  constructor(name: string, args: NodeIdentityArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      provider,
      name,
      {
        berthKind: "node-identity",
        berthProviderVersion: NODE_IDENTITY_PROVIDER_VERSION,
        nodeId: args.nodeId,
        serverId: args.serverId,
        channel: pulumi.secret(args.channel),
        enrollmentSecret: pulumi.secret(args.enrollmentSecret),
        ...(args.acceptKey ? { acceptKey: args.acceptKey } : {}),
        timeoutSeconds: args.timeoutSeconds ?? 900,
        publicKey: undefined,
        statusKey: undefined,
      },
      { ...opts, additionalSecretOutputs: ["enrollmentSecret", "channel"] },
    );
  }
}
