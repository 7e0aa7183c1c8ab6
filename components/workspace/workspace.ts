// Workspace: a devcontainer workspace (a repository's branch and devcontainer config) on a
// workspace node. The component checks its arguments, then a dynamic resource publishes the
// signed declaration to the node's channel prefix (logic: components/runtime/workspace.ts); the
// node's agent clones, pulls or builds (cache in the registry namespace) and starts it, and
// reports its status at nodes/<node>/status/workspaces/<id>.json.

import * as pulumi from "@pulumi/pulumi";
import type { AccessPolicy } from "../../contract/access/schema";
import type { Retention } from "../../contract/backup/schema";
import type { ChannelSpec } from "../../contract/channel/access";
import { PROVIDER_RUNTIME } from "../runtime-path";
import { checkWorkspaceArgs, checkWorkspaceNode, repositoryNameOf, workspaceBackupInput } from "./args";

export const WORKSPACE_PROVIDER_VERSION = "1";

const runtime = PROVIDER_RUNTIME;
const provider: pulumi.dynamic.ResourceProvider = {
  check: (olds, news) => require(runtime).workspace.check(olds, news),
  diff: (id, olds, news) => require(runtime).workspace.diff(id, olds, news),
  create: (news) => require(runtime).workspace.create(news),
  update: (id, olds, news) => require(runtime).workspace.update(id, olds, news),
  delete: (id, olds) => require(runtime).workspace.remove(id, olds),
};

/** A DeploymentNode, or what a workspace needs of one. */
/** A token for an https repository, or a deploy key for an SSH one. */
export type GitCredentialArgs =
  | { username?: pulumi.Input<string>; token: pulumi.Input<string> }
  | { deployKey: pulumi.Input<string>; knownHosts?: string };

export interface WorkspaceNode {
  nodeId: pulumi.Input<string>;
  /**
   * The node's sealing key as the node resource took it (DeploymentNode/LocalNode `publicKey`):
   * the registry login is sealed to it, never to what the channel says.
   */
  publicKey?: pulumi.Input<string>;
  role?: "deployment" | "workspace";
  provider?: string;
}

export interface WorkspaceArgs {
  /** The workspace node (role "workspace"; a local node also hosts workspaces). */
  node: WorkspaceNode;
  /** The channel with the program's write access (ReleaseChannel.programSpec). */
  channel: pulumi.Input<ChannelSpec>;
  /** What the node clones: a git URL, or an absolute path for a local node. */
  repository: string;
  /** `owner/name` in image names (default: the last two parts of the repository). */
  repositoryName?: string;
  /** Default: main. */
  branch?: string;
  /** The branch whose cache every build starts from. Default: main. */
  defaultBranch?: string;
  /** A named config (.devcontainer/<name>/devcontainer.json); the default config when absent. */
  devcontainerConfig?: string;
  /** Builds of this workspace may write the cache tags other builds read. Default: false. */
  trusted?: boolean;
  /** Run the config's initializeCommand on the node. Default: false. */
  allowInitializeCommand?: boolean;
  /** Started when the repository has no usable devcontainer config. */
  defaultImage: string;
  /**
   * Where the build cache lives; none: no cache. `username`/`password` is the login builds get:
   * give the RegistryNamespace's pull (read-only) login, since an untrusted branch's build runs
   * with it. `push` is the login the agent pushes the cache with after a build, from a Docker
   * config of its own; never handed to a build. Without `push`, nothing can be pushed unless the
   * build's login can push.
   */
  registry?: {
    namespace: pulumi.Input<string>;
    username: pulumi.Input<string>;
    password: pulumi.Input<string>;
    push?: { username: pulumi.Input<string>; password: pulumi.Input<string> };
  };
  /** The container's CPU, memory (MiB) and pids limits; defaults 2 CPUs, 4096 MiB, 4096 pids. */
  limits?: { cpus?: number; memoryMb?: number; pids?: number };
  /**
   * Idle stop and branch following: `idleTimeoutSeconds` (default 1800; 0 never) with no session
   * and no process activity stops the workspace, state kept, until the next access;
   * `followSeconds` (default 300; 0 never) is how often the node fetches the branch.
   */
  lifecycle?: { idleTimeoutSeconds?: number; followSeconds?: number };
  /**
   * Backups of the working tree and home with restic to an S3 bucket (as environments' volumes):
   * on `schedule` (cron, UTC) and at each idle stop; a node without the workspace's state (a
   * replacement) restores them before its first start. The repository is
   * `s3:<endpoint>/<bucket>[/<prefix>]/workspaces/<id>`; its password and the bucket keys are sealed to the node.
   */
  backup?: {
    target: { endpoint: string; bucket: string; region?: string; prefix?: string };
    schedule?: string;
    retention?: Retention;
    pruneSchedule?: string;
    checkSchedule?: string;
    restoreOnFirstStart?: boolean;
    password: pulumi.Input<string>;
    accessKeyId: pulumi.Input<string>;
    secretAccessKey: pulumi.Input<string>;
  };
  /**
   * A private repository's credential: a token (and the user name the host expects with it;
   * default `x-access-token`) for an https repository, or a deploy key (an unencrypted Ed25519
   * private key in OpenSSH's format, and the host's known_hosts lines; none: the node pins the
   * key its first clone sees) for an SSH one. Sealed to the node; git gets it from the agent,
   * never from a file.
   */
  gitCredential?: GitCredentialArgs;
  /** Operators granted this workspace (shell, exec, files, ports), signed into its declaration. */
  access?: AccessPolicy;
  /** The release-signing private key (secret); nodes trust its public key. */
  signingKey: pulumi.Input<string>;
  /** Workspace id on the node. Default: the resource name. */
  workspaceId?: string;
  /** How long to wait for the node's published key (to seal the registry login). Default 300 s. */
  nodeKeyTimeoutSeconds?: number;
}

class WorkspaceDeclarationResource extends pulumi.dynamic.Resource {
  declare readonly generation: pulumi.Output<number>;
  declare readonly declarationKey: pulumi.Output<string>;
  declare readonly statusKey: pulumi.Output<string>;

  constructor(name: string, inputs: Record<string, unknown>, opts?: pulumi.CustomResourceOptions) {
    super(
      provider,
      name,
      { ...inputs, generation: undefined, declarationKey: undefined, statusKey: undefined },
      { ...opts, additionalSecretOutputs: ["channel", "signingKey", "registry", "gitCredential", "backup"] },
    );
  }
}

export class Workspace extends pulumi.ComponentResource {
  readonly workspaceId: string;
  readonly nodeId: pulumi.Output<string>;
  /** Where the node reports the workspace's status in the channel. */
  readonly statusKey: pulumi.Output<string>;
  /** Increases with each published change. */
  readonly generation: pulumi.Output<number>;

  constructor(name: string, args: WorkspaceArgs, opts?: pulumi.ComponentResourceOptions) {
    super("berth:index:Workspace", name, {}, opts);
    const checked = checkWorkspaceArgs(name, {
      workspaceId: args.workspaceId ?? name,
      repository: args.repository,
      ...(args.repositoryName !== undefined ? { repositoryName: args.repositoryName } : {}),
      ...(args.branch !== undefined ? { branch: args.branch } : {}),
      ...(args.defaultBranch !== undefined ? { defaultBranch: args.defaultBranch } : {}),
      ...(args.devcontainerConfig !== undefined ? { devcontainerConfig: args.devcontainerConfig } : {}),
      ...(args.trusted !== undefined ? { trusted: args.trusted } : {}),
      ...(args.allowInitializeCommand !== undefined
        ? { allowInitializeCommand: args.allowInitializeCommand }
        : {}),
      defaultImage: args.defaultImage,
      ...(args.nodeKeyTimeoutSeconds !== undefined
        ? { nodeKeyTimeoutSeconds: args.nodeKeyTimeoutSeconds }
        : {}),
    });
    checkWorkspaceNode(name, args.node);
    this.workspaceId = checked.workspaceId;
    this.nodeId = pulumi.output(args.node.nodeId);
    const decl = new WorkspaceDeclarationResource(
      `${name}-declaration`,
      {
        berthKind: "workspace",
        berthProviderVersion: WORKSPACE_PROVIDER_VERSION,
        workspaceId: checked.workspaceId,
        nodeId: args.node.nodeId,
        ...(args.node.publicKey ? { nodePublicKey: args.node.publicKey } : {}),
        channel: pulumi.secret(args.channel),
        repository: checked.repository,
        repositoryName: checked.repositoryName ?? repositoryNameOf(checked.repository),
        branch: checked.branch,
        defaultBranch: checked.defaultBranch,
        ...(checked.devcontainerConfig ? { config: checked.devcontainerConfig } : {}),
        trusted: checked.trusted,
        allowInitializeCommand: checked.allowInitializeCommand,
        defaultImage: checked.defaultImage,
        ...(args.limits ? { limits: args.limits } : {}),
        ...(args.lifecycle ? { lifecycle: args.lifecycle } : {}),
        ...(args.backup
          ? { backup: pulumi.secret(workspaceBackupInput(checked.workspaceId, args.backup)) }
          : {}),
        ...(args.access ? { access: args.access } : {}),
        ...(args.registry ? { registry: pulumi.secret(args.registry) } : {}),
        ...(args.gitCredential
          ? {
              gitCredential: pulumi.secret(
                "deployKey" in args.gitCredential
                  ? {
                      sshKey: args.gitCredential.deployKey,
                      ...(args.gitCredential.knownHosts ? { knownHosts: args.gitCredential.knownHosts } : {}),
                    }
                  : {
                      username: args.gitCredential.username ?? "x-access-token",
                      token: args.gitCredential.token,
                    },
              ),
            }
          : {}),
        signingKey: pulumi.secret(args.signingKey),
        nodeKeyTimeoutSeconds: checked.nodeKeyTimeoutSeconds,
      },
      {
        parent: this,
        dependsOn: "machine" in args.node ? [(args.node as { machine: pulumi.Resource }).machine] : [],
      },
    );
    this.statusKey = decl.statusKey;
    this.generation = decl.generation;
    this.registerOutputs({ workspaceId: this.workspaceId, nodeId: this.nodeId, statusKey: this.statusKey });
  }
}
