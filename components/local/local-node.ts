import * as pulumi from "@pulumi/pulumi";
import { AGENT_BUNDLE, PROVIDER_RUNTIME } from "../runtime-path";

export const LOCAL_NODE_PROVIDER_VERSION = "2";

const runtime = PROVIDER_RUNTIME;
const provider: pulumi.dynamic.ResourceProvider = {
  diff: (id, olds, news) => require(runtime).localNode.diff(id, olds, news),
  create: (news) => require(runtime).localNode.create(news),
  update: (id, olds, news) => require(runtime).localNode.update(id, olds, news),
  delete: (id, olds) => require(runtime).localNode.remove(id, olds),
  read: (id, props) => require(runtime).localNode.read(id, props),
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
  /** How often the agent rewrites its signed statuses (default 5 s on the local node). */
  heartbeatSeconds?: number;
  /**
   * The secret the node MACs its identity with (enrollmentSecretFor(enrollmentKey, nodeId)); written
   * into the node's state folder, kept in the Pulumi state as a secret.
   */
  enrollmentSecret: pulumi.Input<string>;
  /** The status key id of new node keys the operator accepts (berth:acceptNodeKeys.<node>). */
  acceptKey?: pulumi.Input<string>;
  /** The Docker Engine the agent drives (DOCKER_HOST, berth:localNodes); absent: this machine's. */
  dockerHost?: string;
  /**
   * How long a new agent bundle has to report before the agent puts the previous one back
   * (berth:agentTrialSeconds); absent: the agent's default, and the node's config as it was.
   */
  agentTrialSeconds?: number;
}

/** berth-agent as a background process of this machine: the local target's node. */
export class LocalNode extends pulumi.dynamic.Resource {
  declare readonly pid: pulumi.Output<number>;
  /** The node's X25519 sealing key, taken on first contact and kept in the state. */
  declare readonly publicKey: pulumi.Output<string>;
  /** The node's Ed25519 status key, taken on first contact and kept in the state. */
  declare readonly statusKey: pulumi.Output<string>;
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
        heartbeatSeconds: args.heartbeatSeconds ?? 5,
        enrollmentSecret: pulumi.secret(args.enrollmentSecret),
        ...(args.acceptKey ? { acceptKey: args.acceptKey } : {}),
        ...(args.dockerHost ? { dockerHost: args.dockerHost } : {}),
        ...(args.agentTrialSeconds ? { agentTrialSeconds: args.agentTrialSeconds } : {}),
        pid: undefined,
        publicKey: undefined,
        statusKey: undefined,
        logFile: undefined,
      },
      // Replaced (`pulumi up --replace`, LOCAL_REPLACE_HINT): the old agent stopped and its folder
      // removed before the new one starts there. The engine does not ask the provider's diff for a
      // targeted replace, so only this option keeps it from starting the new agent first (whose
      // state the old one's delete then removed, leaving the old agent running).
      { ...opts, deleteBeforeReplace: true, additionalSecretOutputs: ["enrollmentSecret"] },
    );
  }
}
