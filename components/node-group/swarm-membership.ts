// The signed membership of a node group in the release channel (`swarm/<group>/membership.json`):
// who is in the swarm, as what, with the keys the program's state pins for each node. A dynamic
// resource, child of the NodeGroup; its logic is components/runtime/swarm-membership.ts, the
// format contract/swarm/membership.ts.
import * as pulumi from "@pulumi/pulumi";
import type { ChannelSpec } from "../../contract/channel/access";
import { PROVIDER_RUNTIME } from "../runtime-path";

export const SWARM_MEMBERSHIP_PROVIDER_VERSION = "1";

const runtime = PROVIDER_RUNTIME;
const provider: pulumi.dynamic.ResourceProvider = {
  check: (olds, news) => require(runtime).swarmMembership.check(olds, news),
  diff: (id, olds, news) => require(runtime).swarmMembership.diff(id, olds, news),
  create: (news) => require(runtime).swarmMembership.create(news),
  update: (id, olds, news) => require(runtime).swarmMembership.update(id, olds, news),
  delete: (id, olds) => require(runtime).swarmMembership.remove(id, olds),
};

export interface SwarmMemberInput {
  nodeId: string;
  role: "manager" | "worker";
  /** X25519, as the state pins it (the node resource's output). */
  publicKey: pulumi.Input<string>;
  /** Ed25519 status key, as the state pins it. */
  statusKey: pulumi.Input<string>;
  /** The address the node advertises to the swarm. */
  address: pulumi.Input<string>;
}

export interface SwarmMembershipArgs {
  channel: pulumi.Input<ChannelSpec>;
  signingKey: pulumi.Input<string>;
  group: string;
  leader: string;
  leaderAddress: pulumi.Input<string>;
  members: SwarmMemberInput[];
  /** How long a published membership is valid (default 60 days) and how early it is renewed (20). */
  validityDays?: number;
  renewBeforeDays?: number;
}

export class SwarmMembership extends pulumi.dynamic.Resource {
  declare readonly generation: pulumi.Output<number>;
  declare readonly expiresAt: pulumi.Output<string>;
  declare readonly key: pulumi.Output<string>;

  constructor(name: string, args: SwarmMembershipArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      provider,
      name,
      {
        berthKind: "swarm-membership",
        berthProviderVersion: SWARM_MEMBERSHIP_PROVIDER_VERSION,
        channel: pulumi.secret(args.channel),
        signingKey: pulumi.secret(args.signingKey),
        group: args.group,
        leader: args.leader,
        leaderAddress: args.leaderAddress,
        members: args.members,
        validityDays: args.validityDays ?? 60,
        renewBeforeDays: args.renewBeforeDays ?? 20,
        key: undefined,
        generation: undefined,
        expiresAt: undefined,
      },
      { ...opts, additionalSecretOutputs: ["channel", "signingKey"] },
    );
  }
}
