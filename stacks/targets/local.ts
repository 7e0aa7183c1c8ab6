// The local target: everything on this machine, no cloud account (a folder channel, the agent as
// a background process, the registry that setup runs).
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { DeploymentEnvironment } from "../../components/deployment-environment/deployment-environment";
import { LocalNode } from "../../components/local/local-node";
import { LocalRoot } from "../../components/local/local-root";
import { NodeGroup, NodeGroupError } from "../../components/node-group/node-group";
import { AgentRollout } from "../../components/release-channel/agent-rollout";
import { ReleaseChannel } from "../../components/release-channel/release-channel";
import { Workspace } from "../../components/workspace/workspace";
import { DEFAULT_AGENT_TRIAL_SECONDS } from "../../contract/node/agent-config";
import { rolloutBoundSeconds } from "../../contract/trust/agent-rollout";
import { environmentAccess, workspaceAccess } from "../access";
import { localHealthTimeoutSeconds } from "../config";
import { localNodeArch, localNodePlatform } from "../platform";
import {
  agentBundlePath,
  enrollmentSecret,
  gitCredentialOf,
  stargzToolsArgs,
  swarmVersionKey,
  trustSetArgs,
  workspaceBackupOf,
} from "./cloud";
import type { ProgramContext, ProgramOutputs } from "./context";

const STACKS_DIR = path.resolve(__dirname, "..");

export function deployLocal(ctx: ProgramContext): ProgramOutputs {
  const { config, stack, secrets, signingKey, trustedKey } = ctx;
  const registryHost = process.env.BERTH_REGISTRY_ADDR;
  const registryUser = process.env.BERTH_REGISTRY_USER;
  const registryPassword = process.env.BERTH_REGISTRY_PASSWORD;
  if (!registryHost || !registryUser || !registryPassword) {
    throw new pulumi.RunError(
      "the local registry's address and credentials are not in the environment: run `npm run up` (it runs the setup), or `source scripts/env.sh` first",
    );
  }
  const localRoot = config.localRoot ?? path.resolve(STACKS_DIR, "..", ".berth-local", stack);
  const root = new LocalRoot("local-root", localRoot);
  const channelPath = path.join(localRoot, "channel");
  const channel = new ReleaseChannel(
    "channel",
    {
      path: channelPath,
      ...(ctx.trust ? { trustSet: trustSetArgs(ctx.trust) } : {}),
      // With berth:agentBundle the running local agent upgrades itself to it (node-agent/upgrade/).
      ...(config.agentBundle
        ? { agentBundle: { signingKey, bundlePath: agentBundlePath(config.agentBundle) } }
        : {}),
      // With berth:stargzTools the lazy-pulling tools of this machine's CPU go into the channel,
      // signed, as a cloud stack publishes them for its workspace nodes (the local node runs its
      // own build: scripts/setup/stargz.sh).
      ...(config.stargzTools ? stargzToolsArgs(ctx, [localNodeArch()]) : {}),
    },
    { dependsOn: [root] },
  );
  const volumeRoot = path.join(localRoot, "volumes");
  const nodeId = "local-1";
  const acceptKey = config.acceptNodeKeys[nodeId];
  const node = new LocalNode(
    "node",
    {
      nodeId,
      enrollmentSecret: enrollmentSecret(ctx, nodeId),
      ...(acceptKey ? { acceptKey } : {}),
      stateRoot: path.join(localRoot, "node"),
      volumeRoot,
      channelPath: channel.url.apply(() => channelPath),
      // With berth:trust the node's config holds only the roots: the keys come with the trust
      // set, so a new signing key never changes the node.
      trustedKeys: ctx.trust ? [] : [trustedKey],
      ...(ctx.trust ? { trustRoots: ctx.trust.roots } : {}),
      proxyBind: `127.0.0.1:${config.localHttpPort}`,
      healthTimeoutSeconds: localHealthTimeoutSeconds(config),
      ...(config.agentTrialSeconds ? { agentTrialSeconds: config.agentTrialSeconds } : {}),
    },
    { dependsOn: [root, channel] },
  );
  // `pulumi up` returns once the node runs the published agent (its signed status says so), and
  // fails with the node's reason when it refused or rolled it back.
  if (channel.agentBundle)
    new AgentRollout("node-agent", {
      channel: { kind: "folder", path: channelPath },
      bundle: channel.agentBundle,
      nodeId: node.nodeId,
      statusKey: node.statusKey,
      // Never shorter than the node's trial: a hung bundle fails with the node's reason.
      timeoutSeconds: rolloutBoundSeconds(
        config.releaseTimeoutSeconds,
        config.agentTrialSeconds ?? DEFAULT_AGENT_TRIAL_SECONDS,
      ),
    });

  // berth:localNodes: more agents on this machine, each driving its own Docker Engine (a swarm
  // test bed's), and the node groups they form (NodeGroup: the signed membership; no firewall).
  const localNodes = new Map(
    config.localNodes.map((n) => {
      const dir = path.join(localRoot, "nodes", n.id);
      const agent = new LocalNode(
        `node-${n.id}`,
        {
          nodeId: n.id,
          enrollmentSecret: enrollmentSecret(ctx, n.id),
          ...(config.acceptNodeKeys[n.id] ? { acceptKey: config.acceptNodeKeys[n.id] as string } : {}),
          stateRoot: path.join(dir, "node"),
          volumeRoot: path.join(dir, "volumes"),
          channelPath: channel.url.apply(() => channelPath),
          trustedKeys: ctx.trust ? [] : [trustedKey],
          ...(ctx.trust ? { trustRoots: ctx.trust.roots } : {}),
          proxyBind: `127.0.0.1:${n.httpPort}`,
          healthTimeoutSeconds: localHealthTimeoutSeconds(config),
          ...(config.agentTrialSeconds ? { agentTrialSeconds: config.agentTrialSeconds } : {}),
          dockerHost: n.dockerHost,
        },
        { dependsOn: [root, channel] },
      );
      return [n.id, { agent, config: n, volumeRoot: path.join(dir, "volumes") }] as const;
    }),
  );
  const groups = new Map(
    config.nodeGroups.map((g) => {
      try {
        return [
          g.name,
          new NodeGroup(g.name, {
            name: g.name,
            nodes: g.nodes.map((id) => {
              const n = localNodes.get(id);
              if (!n)
                throw new pulumi.RunError(
                  `${ctx.stackFile}: berth:nodeGroups: ${g.name}: no local node ${id}`,
                );
              return {
                id,
                node: {
                  provider: "local",
                  ipv4: pulumi.output(n.config.address),
                  publicKey: n.agent.publicKey,
                  statusKey: n.agent.statusKey,
                  resource: n.agent,
                },
              };
            }),
            managers: g.managers,
            channel: { kind: "folder", path: channelPath },
            signingKey,
          }),
        ] as const;
      } catch (e) {
        if (e instanceof NodeGroupError)
          throw new pulumi.RunError(`${ctx.stackFile}: berth:nodeGroups: ${e.message}`);
        throw e;
      }
    }),
  );
  const versionKey = groups.size > 0 ? swarmVersionKey(ctx) : undefined;

  /** Where an environment runs: the local node, or a node group's leader with the swarm input. */
  function placementOf(e: (typeof config.environments)[number]) {
    const group = e.nodeGroup !== undefined ? groups.get(e.nodeGroup) : undefined;
    if (!group || !versionKey)
      return {
        node: { nodeId: node.nodeId, publicKey: node.publicKey, statusKey: node.statusKey, volumeRoot },
      };
    const leader = localNodes.get(group.leaderId);
    if (!leader)
      throw new pulumi.RunError(
        `${ctx.stackFile}: berth:nodeGroups: ${group.name}: no local node ${group.leaderId}`,
      );
    const proxy = config.nodeGroups.find((g) => g.name === group.name)?.proxy;
    return {
      node: {
        nodeId: leader.agent.nodeId,
        publicKey: leader.agent.publicKey,
        statusKey: leader.agent.statusKey,
        volumeRoot: leader.volumeRoot,
      },
      swarm: {
        group: group.name,
        volumeNodes: Object.fromEntries(e.volumes.map((v) => [v.name, v.node ?? ""])),
        versionKey,
        // The local nodes' engines share this machine's kernel: their overlay traffic never leaves
        // it, so IPsec would protect nothing, and a kernel without ESP (machine.md) installs none of
        // Docker's security associations, then drops every packet between the engines (a node's
        // berth-proxy reaches no task on another node: 503). Unencrypted, as on the test bed.
        encryptNetworks: false,
        ...(proxy ? { proxy: { image: proxy.image, port: proxy.port } } : {}),
      },
    };
  }
  /** The HTTP port an environment's URLs name: its group leader's HAProxy, or the local node's. */
  function portOf(e: (typeof config.environments)[number]): number {
    const g = e.nodeGroup !== undefined ? groups.get(e.nodeGroup) : undefined;
    return (g && localNodes.get(g.leaderId)?.config.httpPort) ?? config.localHttpPort;
  }

  const environments = config.environments.map(
    (e) =>
      new DeploymentEnvironment(
        e.name,
        {
          name: e.name,
          composeFile: path.resolve(STACKS_DIR, e.compose),
          // The base image every build starts from is one machine setting (BERTH_BASE_IMAGE).
          variables: {
            ...(process.env.BERTH_BASE_IMAGE ? { BASE_IMAGE: process.env.BERTH_BASE_IMAGE } : {}),
            ...e.variables,
          },
          profiles: e.profiles,
          ...(localNodePlatform() === "linux/amd64" ? {} : { platform: localNodePlatform() }),
          secrets,
          ...placementOf(e),
          channel: { kind: "folder", path: channelPath },
          registry: {
            host: registryHost,
            namespace: config.registryNamespace,
            username: registryUser,
            password: pulumi.secret(registryPassword),
          },
          allowImagesOutsideNamespace: e.allowImagesOutsideNamespace,
          ...(e.backup ? { backup: e.backup } : {}),
          access: environmentAccess(config.operators, e.name, config.localCommands),
          ...(e.rollbackTo ? { rollbackTo: e.rollbackTo } : {}),
          signingKey,
          releaseTimeoutSeconds: config.releaseTimeoutSeconds,
          urlFor: (r) => `http://${r.host}:${portOf(e)}${r.path ?? "/"}`,
        },
        { dependsOn: [node, ...(e.nodeGroup ? [groups.get(e.nodeGroup) as NodeGroup] : [])] },
      ),
  );
  for (const w of config.workspaces) {
    new Workspace(
      w.name,
      {
        node: { nodeId: node.nodeId, publicKey: node.publicKey, provider: "local" },
        channel: { kind: "folder", path: channelPath },
        repository: w.repository,
        branch: w.branch,
        defaultBranch: w.defaultBranch,
        ...(w.devcontainerConfig ? { devcontainerConfig: w.devcontainerConfig } : {}),
        trusted: w.trusted,
        ...(w.lifecycle ? { lifecycle: w.lifecycle } : {}),
        access: workspaceAccess(config.operators, w.name),
        allowInitializeCommand: w.allowInitializeCommand,
        defaultImage: w.defaultImage ?? process.env.BERTH_BASE_IMAGE ?? "",
        ...(w.gitCredential ? { gitCredential: gitCredentialOf(w.gitCredential, secrets) } : {}),
        ...(w.backup ? { backup: workspaceBackupOf(w.backup, secrets) } : {}),
        // Builds get the pull-only login (setup's `berth-pull`, refused every write by the
        // registry's gate); the agent pushes the cache with `berth`.
        registry: {
          namespace: `${registryHost}/${config.registryNamespace}`,
          username: process.env.BERTH_REGISTRY_PULL_USER ?? registryUser,
          password: pulumi.secret(process.env.BERTH_REGISTRY_PULL_PASSWORD ?? registryPassword),
          push: { username: registryUser, password: pulumi.secret(registryPassword) },
        },
        signingKey,
      },
      { dependsOn: [node] },
    );
  }
  return {
    channelUrl: channel.url,
    nodeLog: node.logFile,
    urls: pulumi.all(environments.map((e) => e.urls)).apply((u) => u.flat()),
    releases: pulumi
      .all(environments.map((e) => e.sequence))
      .apply((seqs) => Object.fromEntries(config.environments.map((e, i) => [e.name, seqs[i] as number]))),
  };
}
