import * as pulumi from "@pulumi/pulumi";
import { AGENT_BUNDLE, PROVIDER_RUNTIME } from "../runtime-path";

export const LOCAL_NODE_PROVIDER_VERSION = "1";

const runtime = PROVIDER_RUNTIME;
const provider: pulumi.dynamic.ResourceProvider = {
  diff: (id, olds, news) => require(runtime).localNode.diff(id, olds, news),
  create: (news) => require(runtime).localNode.create(news),
  update: (id, olds, news) => require(runtime).localNode.update(id, olds, news),
  delete: (id, olds) => require(runtime).localNode.remove(id, olds),
};

export interface LocalNodeArgs {
  nodeId: string;
  /** The node's own folder: agent config, state, HAProxy. */
  stateRoot: string;
  /** Where the environments' volumes live on this machine. */
  volumeRoot: string;
  channelPath: pulumi.Input<string>;
  trustedKeys: pulumi.Input<pulumi.Input<string>[]>;
  /** Keys that sign the channel's trust set (berth:trust.rootKeys); the release keys come from it. */
  trustRoots?: string[];
  /** HAProxy's address for the apps' traffic, e.g. 127.0.0.1:8088. */
  proxyBind: string;
  pollIntervalSeconds?: number;
  healthTimeoutSeconds?: number;
}

/** berth-agent as a background process of this machine: the local target's node. */
export class LocalNode extends pulumi.dynamic.Resource {
  declare readonly pid: pulumi.Output<number>;
  declare readonly publicKey: pulumi.Output<string>;
  declare readonly logFile: pulumi.Output<string>;
  declare readonly nodeId: pulumi.Output<string>;

  constructor(name: string, args: LocalNodeArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      provider,
      name,
      {
        berthKind: "local-node",
        berthProviderVersion: LOCAL_NODE_PROVIDER_VERSION,
        nodeId: args.nodeId,
        stateRoot: args.stateRoot,
        volumeRoot: args.volumeRoot,
        channelPath: args.channelPath,
        trustedKeys: args.trustedKeys,
        ...(args.trustRoots && args.trustRoots.length > 0 ? { trustRoots: args.trustRoots } : {}),
        proxyBind: args.proxyBind,
        agentEntry: AGENT_BUNDLE,
        pollIntervalSeconds: args.pollIntervalSeconds ?? 1,
        healthTimeoutSeconds: args.healthTimeoutSeconds ?? 60,
        pid: undefined,
        publicKey: undefined,
        logFile: undefined,
      },
      opts,
    );
  }
}
