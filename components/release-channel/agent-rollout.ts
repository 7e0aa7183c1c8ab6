// Waits in `pulumi up` for a node to run the agent bundle the channel's AgentBundle published:
// the node's signed agent status, verified with the status key the state pins for the node,
// must name the bundle's version within a bound; a node that refused or rolled back the bundle
// fails `pulumi up` with its reason. `pulumi refresh` reads the node's verified agent status: a
// node that no longer runs the bundle's version shows as a change. One per node, after the node
// and the bundle. A dynamic resource; its logic is components/runtime/agent-rollout.ts.
import * as pulumi from "@pulumi/pulumi";
import type { ChannelSpec } from "../../contract/channel/access";
import { PROVIDER_RUNTIME } from "../runtime-path";
import type { AgentBundle } from "./agent-bundle";

export const AGENT_ROLLOUT_PROVIDER_VERSION = "1";

const runtime = PROVIDER_RUNTIME;
const provider: pulumi.dynamic.ResourceProvider = {
  diff: (id, olds, news) => require(runtime).agentRollout.diff(id, olds, news),
  create: (news) => require(runtime).agentRollout.create(news),
  update: (id, olds, news) => require(runtime).agentRollout.update(id, olds, news),
  read: (id, props) => require(runtime).agentRollout.read(id, props),
};

export interface AgentRolloutArgs {
  /** The channel the node writes its statuses to (credentials that can read it; kept secret). */
  channel: pulumi.Input<ChannelSpec>;
  /** The bundle the node must run. */
  bundle: AgentBundle;
  nodeId: pulumi.Input<string>;
  /** The node's status key as the state pins it (the node resource's output). */
  statusKey: pulumi.Input<string>;
  /** How long the node may take to install the bundle and report (seconds). */
  timeoutSeconds: number;
}

export class AgentRollout extends pulumi.dynamic.Resource {
  declare readonly agentVersion: pulumi.Output<string>;
  declare readonly waitedSeconds: pulumi.Output<number>;

  constructor(name: string, args: AgentRolloutArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      provider,
      name,
      {
        berthKind: "agent-rollout",
        berthProviderVersion: AGENT_ROLLOUT_PROVIDER_VERSION,
        channel: pulumi.secret(args.channel),
        nodeId: args.nodeId,
        statusKey: args.statusKey,
        version: args.bundle.version,
        bundleSha256: args.bundle.bundleSha256,
        timeoutSeconds: args.timeoutSeconds,
        agentVersion: undefined,
        waitedSeconds: undefined,
      },
      // The bundle's version and SHA-256 and the node's status key order it after both.
      { ...opts, additionalSecretOutputs: ["channel"] },
    );
  }
}
