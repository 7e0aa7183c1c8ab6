// What the hetzner and scaleway targets share: the release channel (R2 or Scaleway Object
// Storage, with the signed agent bundle), the registry namespace, the nodes' user data inputs,
// and the environments placed on nodes (with their DNS records when a Cloudflare zone is set).

import { createHmac } from "node:crypto";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { DeploymentEnvironment } from "../../components/deployment-environment/deployment-environment";
import type { CloudIdentityArgs, DeploymentNode } from "../../components/deployment-node/deployment-node";
import type { NodeCloudInitArgs } from "../../components/deployment-node/hcloud-node";
import type { EnvironmentVolume } from "../../components/environment-volume/environment-volume";
import { NodeGroup, NodeGroupError } from "../../components/node-group/node-group";
import { RegistryNamespace } from "../../components/registry-namespace/registry-namespace";
import { AgentRollout } from "../../components/release-channel/agent-rollout";
import {
  type ChannelStargzToolsArgs,
  type ChannelTrustSetArgs,
  ReleaseChannel,
} from "../../components/release-channel/release-channel";
import { type GitCredentialArgs, Workspace } from "../../components/workspace/workspace";
import { enrollmentSecretFor } from "../../contract/channel/node-identity";
import { DEFAULT_AGENT_TRIAL_SECONDS } from "../../contract/node/agent-config";
import { rolloutBoundSeconds } from "../../contract/trust/agent-rollout";
import type { NodeArch } from "../../contract/trust/node-tools";
import { environmentAccess, workspaceAccess } from "../access";
import type { StackConfig } from "../config";
import { cloudNodePlatform } from "../platform";
import type { ProgramContext, ProgramOutputs } from "./context";

const STACKS_DIR = path.resolve(__dirname, "..");

type Cloud = Required<Pick<StackConfig, "channel" | "registry">> & StackConfig;

/** The config keys a cloud target needs; config.ts's cross checks have made sure they are set. */
function cloud(config: StackConfig): Cloud {
  if (!config.channel || !config.registry) throw new Error("berth:channel and berth:registry are required");
  return config as Cloud;
}

export function cloudChannel(ctx: ProgramContext): ReleaseChannel {
  const c = cloud(ctx.config);
  const berth = new pulumi.Config("berth");
  const common = {
    bucket: c.channel.bucket,
    prefix: c.channel.prefix,
    nodeIds: c.nodes.map((n) => n.id),
    nodeGroups: c.nodeGroups.map((g) => ({ name: g.name, nodes: g.nodes, leader: g.managers[0] ?? "" })),
    program: {
      accessKeyId: berth.requireSecret("channelAccessKeyId"),
      secretAccessKey: berth.requireSecret("channelSecretAccessKey"),
    },
    // Nodes install the agent from the channel (user data stays the same when the agent changes).
    agentBundle: {
      signingKey: ctx.signingKey,
      ...(ctx.config.agentBundle ? { bundlePath: agentBundlePath(ctx.config.agentBundle) } : {}),
    },
    ...(ctx.trust ? { trustSet: trustSetArgs(ctx.trust) } : {}),
    // Workspace nodes install the lazy-pulling tools of their CPU from the channel.
    ...stargzToolsArgs(ctx, workspaceArches(c.nodes)),
  };
  if (c.channel.kind === "r2") {
    return new ReleaseChannel("channel", {
      kind: "r2",
      ...common,
      accountId: c.cloudflare?.accountId ?? "",
      jurisdiction: c.channel.jurisdiction,
      ...(c.channel.location ? { location: c.channel.location } : {}),
    });
  }
  return new ReleaseChannel("channel", {
    kind: "scaleway",
    ...common,
    region: c.channel.region,
    projectId: c.scaleway?.projectId ?? "",
    programPrincipal: c.scaleway?.programPrincipal ?? "",
  });
}

export function cloudRegistry(ctx: ProgramContext): RegistryNamespace {
  const r = cloud(ctx.config).registry;
  const berth = new pulumi.Config("berth");
  if (r.kind === "cloudflare") {
    return new RegistryNamespace("registry", {
      kind: "cloudflare",
      accountId: ctx.config.cloudflare?.accountId ?? "",
      apiToken: new pulumi.Config("cloudflare").requireSecret("apiToken"),
      namespace: r.namespace,
      pullExpirationMinutes: r.pullExpirationMinutes,
      pushExpirationMinutes: r.pushExpirationMinutes,
    });
  }
  if (r.kind === "oci") {
    const pull = { username: r.pullUsername, password: berth.requireSecret("registryPullPassword") };
    return new RegistryNamespace("registry", {
      kind: "oci",
      host: r.host,
      namespace: r.namespace,
      pull,
      push: {
        username: r.pushUsername ?? r.pullUsername,
        password: berth.getSecret("registryPushPassword") ?? pull.password,
      },
    });
  }
  return new RegistryNamespace("registry", {
    kind: "scaleway",
    name: r.name,
    region: r.region,
    projectId: ctx.config.scaleway?.projectId ?? "",
  });
}

/** The CPU architectures of the stack's cloud workspace nodes, sorted. */
export function workspaceArches(nodes: StackConfig["nodes"]): NodeArch[] {
  const arches = nodes
    .filter((n) => n.role === "workspace")
    .map((n) => (cloudNodePlatform(n) === "linux/arm64" ? "arm64" : "amd64") as NodeArch);
  return [...new Set(arches)].sort();
}

/** The channel's stargz tools (berth:stargzTools, or setup's build) for these architectures. */
export function stargzToolsArgs(
  ctx: ProgramContext,
  arches: NodeArch[],
): { stargzTools?: ChannelStargzToolsArgs } {
  if (arches.length === 0) return {};
  const dir = ctx.config.stargzTools ? agentBundlePath(ctx.config.stargzTools) : undefined;
  return { stargzTools: { signingKey: ctx.signingKey, arches, ...(dir ? { dir } : {}) } };
}

/** The channel's trust set from berth:trust (stacks/trust-config.ts). */
/** berth:agentBundle as a file path: absolute, or relative to the repository. */
export function agentBundlePath(configured: string): string {
  return path.resolve(STACKS_DIR, "..", configured);
}

export function trustSetArgs(t: NonNullable<ProgramContext["trust"]>): ChannelTrustSetArgs {
  return {
    rootKey: t.rootKey,
    roots: t.roots,
    releaseKeys: t.releaseKeys,
    revoked: t.revoked,
    validityDays: t.validityDays,
    renewBeforeDays: t.renewBeforeDays,
  };
}

/** A workspace's git token or deploy key from berth:secrets (the config check made sure the name is there). */
export function gitCredentialOf(
  c: {
    secret?: string | undefined;
    username: string;
    deployKey?: string | undefined;
    knownHosts?: string | undefined;
  },
  secrets: pulumi.Output<Record<string, string>>,
): GitCredentialArgs {
  const value = (name: string) => pulumi.secret(secrets.apply((s) => s[name] ?? ""));
  if (c.deployKey !== undefined)
    return { deployKey: value(c.deployKey), ...(c.knownHosts ? { knownHosts: c.knownHosts } : {}) };
  return { username: c.username, token: value(c.secret ?? "") };
}

/** A workspace's backup settings with the values of its secrets (secret outputs). */
export function workspaceBackupOf<
  B extends { secrets: { password: string; accessKeyId: string; secretAccessKey: string } },
>(
  b: B,
  secrets: pulumi.Output<Record<string, string>>,
): Omit<B, "secrets"> & {
  password: pulumi.Output<string>;
  accessKeyId: pulumi.Output<string>;
  secretAccessKey: pulumi.Output<string>;
} {
  const { secrets: names, ...rest } = b;
  const value = (name: string) => pulumi.secret(secrets.apply((s) => s[name] ?? ""));
  return {
    ...rest,
    password: value(names.password),
    accessKeyId: value(names.accessKeyId),
    secretAccessKey: value(names.secretAccessKey),
  };
}

/** A node's enrollment secret: derived from the stack's enrollment key, so stable and different per node. */
export function enrollmentSecret(ctx: ProgramContext, nodeId: string): pulumi.Output<string> {
  return pulumi.secret(ctx.enrollmentKey).apply((k) => enrollmentSecretFor(k, nodeId));
}

/** How a cloud node's keys are taken on first contact (DeploymentNode's NodeIdentity). */
export function nodeIdentityArgs(
  ctx: ProgramContext,
  channel: ReleaseChannel,
  nodeId: string,
): CloudIdentityArgs {
  const acceptKey = ctx.config.acceptNodeKeys[nodeId];
  return {
    channel: channel.programSpec,
    enrollmentSecret: enrollmentSecret(ctx, nodeId),
    ...(acceptKey ? { acceptKey } : {}),
  };
}

/**
 * A node's user data inputs: its channel read credentials, its enrollment secret and the keys it
 * trusts. With
 * berth:trust only the roots: release keys come with the trust set, so rotating them changes no
 * user data (and replaces no server).
 */
export function nodeCloudInit(
  ctx: ProgramContext,
  channel: ReleaseChannel,
  nodeId: string,
): NodeCloudInitArgs {
  return {
    channel: channel.nodeAccess(nodeId),
    trustedKeys: ctx.trust ? [] : [ctx.trustedKey, ...ctx.config.trustedKeys],
    ...(ctx.trust ? { trustRoots: ctx.trust.roots } : {}),
    enrollmentSecret: enrollmentSecret(ctx, nodeId),
    agent: { kind: "channel" },
  };
}

/** Volumes per node, in config order: how many a node carries decides the provider's limit check. */
export function volumesByNode(config: StackConfig) {
  const count = new Map<string, number>();
  return config.environments.flatMap((e) =>
    e.volumes.map((v) => {
      // On a node group, the group's node that holds the disk (berth:environments[].volumes[].node).
      const nodeId = e.node ?? v.node ?? "";
      const countOnNode = (count.get(nodeId) ?? 0) + 1;
      count.set(nodeId, countOnNode);
      return { environmentId: e.name, nodeId, volume: v, countOnNode, name: `${e.name}-${v.name}` };
    }),
  );
}

/**
 * The stack's node groups (berth:nodeGroups): each publishes its signed membership and opens the
 * swarm ports between its nodes (NodeGroup).
 */
export function cloudNodeGroups(
  ctx: ProgramContext,
  o: { nodes: Map<string, DeploymentNode>; channel: ReleaseChannel },
): Map<string, NodeGroup> {
  const groups = new Map<string, NodeGroup>();
  for (const g of ctx.config.nodeGroups) {
    const nodes = g.nodes.map((id) => {
      const node = o.nodes.get(id);
      if (!node) throw new pulumi.RunError(`${ctx.stackFile}: berth:nodeGroups: ${g.name}: no node ${id}`);
      return {
        id,
        node: {
          provider: node.provider,
          ipv4: node.ipv4,
          publicKey: node.publicKey,
          statusKey: node.statusKey,
          serverId: node.serverId,
          resource: node,
        },
      };
    });
    try {
      groups.set(
        g.name,
        new NodeGroup(g.name, {
          name: g.name,
          nodes,
          managers: g.managers,
          channel: o.channel.programSpec,
          signingKey: ctx.signingKey,
          proxyPort: g.proxy?.port,
        }),
      );
    } catch (e) {
      if (e instanceof NodeGroupError)
        throw new pulumi.RunError(`${ctx.stackFile}: berth:nodeGroups: ${e.message}`);
      throw e;
    }
  }
  return groups;
}

/**
 * The key that versions a swarm's secret names (contract/swarm/names.ts): derived from the
 * stack's enrollment key, so it is held only by the program and outlives signing-key rotations
 * (a rotation renames no secret and restarts no service).
 */
export function swarmVersionKey(ctx: ProgramContext): pulumi.Output<string> {
  return pulumi
    .secret(ctx.enrollmentKey)
    .apply((k) => createHmac("sha256", k).update("berth/swarm-secret-version/v1").digest("hex"));
}

export function cloudEnvironments(
  ctx: ProgramContext,
  o: {
    nodes: Map<string, DeploymentNode>;
    channel: ReleaseChannel;
    registry: RegistryNamespace;
    volumes: Map<string, EnvironmentVolume[]>;
  },
): ProgramOutputs {
  const { config } = ctx;
  if (config.agentTrialSeconds !== undefined)
    throw new pulumi.RunError(
      `${ctx.stackFile}: berth:agentTrialSeconds: only the local target's nodes take it; cloud nodes keep the agent's ${DEFAULT_AGENT_TRIAL_SECONDS} s (it would change their user data, which replaces them): remove it with \`pulumi config rm berth:agentTrialSeconds\``,
    );
  const zoneId = config.cloudflare?.zoneId;
  // `pulumi up` waits for each node to run the published agent (its signed status says so).
  const bundle = o.channel.agentBundle;
  if (bundle)
    for (const [id, node] of o.nodes)
      new AgentRollout(`${id}-agent`, {
        channel: o.channel.programSpec,
        bundle,
        nodeId: node.nodeId,
        statusKey: node.statusKey,
        // Never shorter than the node's trial: a hung bundle fails with the node's reason.
        timeoutSeconds: rolloutBoundSeconds(config.releaseTimeoutSeconds, DEFAULT_AGENT_TRIAL_SECONDS),
      });
  const groups = cloudNodeGroups(ctx, o);
  const versionKey = groups.size > 0 ? swarmVersionKey(ctx) : undefined;
  const environments = config.environments.map((e) => {
    const group = e.nodeGroup !== undefined ? groups.get(e.nodeGroup) : undefined;
    if (e.nodeGroup !== undefined && !group)
      throw new pulumi.RunError(
        `${ctx.stackFile}: berth:environments: ${e.name}: no node group ${e.nodeGroup}`,
      );
    // On a node group the release goes to its leading manager.
    const nodeId = group ? group.leaderId : (e.node ?? "");
    const node = o.nodes.get(nodeId);
    if (!node)
      throw new pulumi.RunError(`${ctx.stackFile}: berth:environments: ${e.name}: no node ${e.node}`);
    const groupNodes = group ? (config.nodeGroups.find((g) => g.name === e.nodeGroup)?.nodes ?? []) : [];
    const volumes = o.volumes.get(e.name) ?? [];
    return new DeploymentEnvironment(
      e.name,
      {
        name: e.name,
        composeFile: path.resolve(STACKS_DIR, e.compose),
        variables: e.variables,
        profiles: e.profiles,
        ...nonDefaultPlatform(config.nodes.find((n) => n.id === nodeId)),
        secrets: ctx.secrets,
        certificates: ctx.certificates.apply((all) =>
          Object.fromEntries(e.certificates.map((n) => [n, all[n] ?? ""])),
        ),
        node: { nodeId: node.nodeId, publicKey: node.publicKey, statusKey: node.statusKey },
        originCertificate: e.originCertificate,
        disks: pulumi
          .all(volumes.map((v) => v.device ?? pulumi.output("")))
          .apply((devices) =>
            Object.fromEntries(volumes.map((v, i) => [v.composeVolume, devices[i] as string])),
          ),
        channel: o.channel.programSpec,
        registry: {
          host: o.registry.hostName,
          namespace: o.registry.path,
          username: o.registry.pull.username,
          password: o.registry.pull.password,
          push: o.registry.push,
        },
        allowImagesOutsideNamespace: e.allowImagesOutsideNamespace,
        ...(e.backup ? { backup: e.backup } : {}),
        access: environmentAccess(
          config.operators,
          e.name,
          config.nodes.find((n) => n.id === nodeId)?.commands ?? false,
        ),
        ...(e.rollbackTo ? { rollbackTo: e.rollbackTo } : {}),
        signingKey: ctx.signingKey,
        releaseTimeoutSeconds: config.releaseTimeoutSeconds,
        ...(group && versionKey
          ? {
              swarm: {
                group: group.name,
                volumeNodes: Object.fromEntries(e.volumes.map((v) => [v.name, v.node ?? ""])),
                versionKey,
                ...(groupProxy(config, group.name) ?? {}),
              },
            }
          : {}),
        ...(zoneId
          ? {
              dns: {
                zoneId,
                ipv4: node.ipv4,
                // A node group: one record per node, so losing one loses no traffic at the edge.
                ...(group
                  ? {
                      nodes: groupNodes.map((id) => ({
                        nodeId: id,
                        ipv4: o.nodes.get(id)?.ipv4 ?? pulumi.output(""),
                      })),
                    }
                  : {}),
                ...(e.hosts ? { hosts: e.hosts } : {}),
              },
            }
          : {}),
        // Behind Cloudflare's proxy the hosts answer on https (Cloudflare terminates TLS).
        urlFor: (r) => `${zoneId ? "https" : "http"}://${r.host}${r.path ?? "/"}`,
      },
      // A node group's environment waits for its membership (the agents form the swarm from it).
      { dependsOn: [node, o.channel, ...volumes, ...(group ? [group] : [])] },
    );
  });
  for (const w of config.workspaces) {
    const node = o.nodes.get(w.node ?? "");
    if (!node) throw new pulumi.RunError(`${ctx.stackFile}: berth:workspaces: ${w.name}: no node ${w.node}`);
    new Workspace(
      w.name,
      {
        node,
        channel: o.channel.programSpec,
        repository: w.repository,
        branch: w.branch,
        defaultBranch: w.defaultBranch,
        ...(w.devcontainerConfig ? { devcontainerConfig: w.devcontainerConfig } : {}),
        trusted: w.trusted,
        ...(w.lifecycle ? { lifecycle: w.lifecycle } : {}),
        access: workspaceAccess(config.operators, w.name),
        allowInitializeCommand: w.allowInitializeCommand,
        defaultImage: w.defaultImage ?? "",
        ...(w.gitCredential ? { gitCredential: gitCredentialOf(w.gitCredential, ctx.secrets) } : {}),
        ...(w.backup ? { backup: workspaceBackupOf(w.backup, ctx.secrets) } : {}),
        // The build cache lives in the stack's namespace. Builds (an untrusted branch's among
        // them) get the read-only pull login; the agent pushes the cache with the push login.
        registry: {
          namespace: o.registry.prefix,
          username: o.registry.pull.username,
          password: o.registry.pull.password,
          push: { username: o.registry.push.username, password: o.registry.push.password },
        },
        signingKey: ctx.signingKey,
      },
      { dependsOn: [node, o.channel] },
    );
  }
  const nodes = [...o.nodes.entries()];
  return {
    // What `berth status` and `berth releases` open without --channel (their --channel form).
    channelUrl: channelAddress(o.channel),
    channelRegion: pulumi.output(o.channel.region ?? "auto"),
    urls: pulumi.all(environments.map((e) => e.urls)).apply((u) => u.flat()),
    releases: pulumi
      .all(environments.map((e) => e.sequence))
      .apply((seqs) => Object.fromEntries(config.environments.map((e, i) => [e.name, seqs[i] as number]))),
    nodes: pulumi
      .all(nodes.map(([, n]) => n.ipv4))
      .apply((ips) =>
        Object.fromEntries(nodes.map(([id, n], i) => [id, { ipv4: ips[i] as string, location: n.location }])),
      ),
  };
}

/** The group's proxy (berth:nodeGroups[].proxy) as the Release's swarm input takes it. */
function groupProxy(config: StackConfig, group: string) {
  const p = config.nodeGroups.find((g) => g.name === group)?.proxy;
  return p ? { proxy: { image: p.image, port: p.port } } : undefined;
}

/** A bucket channel as `s3:https://ENDPOINT/BUCKET[/PREFIX]`, the form berth's --channel takes. */
function channelAddress(c: ReleaseChannel): pulumi.Output<string> {
  const prefix = (c.prefix ?? "").replace(/^\/+|\/+$/g, "");
  return pulumi.interpolate`s3:${c.endpoint ?? ""}/${c.bucket ?? ""}${prefix ? `/${prefix}` : ""}`;
}

/** The node's platform, given only when it is not the default (so amd64 stacks see no change). */
function nonDefaultPlatform(node: { provider: string; serverType: string } | undefined): {
  platform?: string;
} {
  const p = node ? cloudNodePlatform(node) : "linux/amd64";
  return p === "linux/amd64" ? {} : { platform: p };
}
