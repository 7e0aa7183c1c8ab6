// The Workspace dynamic provider's logic, run inside the provider process (bundled into
// dist/provider-runtime.js): publishes the signed declaration of a devcontainer workspace to the
// node's channel prefix (nodes/<node>/workspaces/<id>.json), the registry login sealed to the
// node's own key (from the identity the node published), with a generation one above the last.
// Delete withdraws it; the agent then takes the workspace down.

import type * as pulumi from "@pulumi/pulumi";
import * as z from "zod";
import type { AccessPolicy } from "../../contract/access/schema";
import type { ChannelSpec } from "../../contract/channel/access";
import { channelKeys } from "../../contract/channel/layout";
import type { ChannelStore } from "../../contract/channel/store";
import {
  type BackupCredentials,
  checkDeclaration,
  REGISTRY_PUSH_SECRET_NAME,
  type SealedGitCredential,
  sealBackupCredentials,
  sealGitCredential,
  sealRegistryLogin,
  signWorkspace,
  type WorkspaceBackup,
  type WorkspaceDeclaration,
  type WorkspaceLifecycle,
  type WorkspaceLimits,
  workspaceEnvelope,
  workspaceKeys,
} from "../../contract/workspace/declaration";
import type { WorkspaceSource } from "../../contract/workspace/spec";
import { openChannel } from "./channel";
import { isUnknown } from "./unknown";

export interface WorkspaceInputs extends WorkspaceSource {
  berthKind: "workspace";
  berthProviderVersion: string;
  /** The node's sealing key from the program's state (the node resource); sealed only to it when set. */
  nodePublicKey?: string;
  workspaceId: string;
  nodeId: string;
  channel: ChannelSpec;
  registry?: {
    namespace: string;
    username: string;
    password: string;
    push?: { username: string; password: string };
  };
  limits?: WorkspaceLimits;
  lifecycle?: WorkspaceLifecycle;
  /** Backups of the tree and home: the settings, and the credentials sealed to the node. */
  backup?: { settings: Omit<WorkspaceBackup, "credentials">; credentials: BackupCredentials };
  /** A private repository's credential: sealed to the node, handed to git by the agent. */
  gitCredential?: { username: string; token: string } | { sshKey: string; knownHosts?: string };
  /** The operators granted this workspace (berth:operators). */
  access?: AccessPolicy;
  signingKey: string;
  nodeKeyTimeoutSeconds: number;
}

export interface WorkspaceOutputs extends WorkspaceInputs {
  generation: number;
  declarationKey: string;
  statusKey: string;
}

function declarationOf(i: WorkspaceInputs, generation: number): WorkspaceDeclaration {
  return {
    formatVersion: 1,
    workspaceId: i.workspaceId,
    nodeId: i.nodeId,
    generation,
    repository: i.repository,
    repositoryName: i.repositoryName,
    branch: i.branch,
    defaultBranch: i.defaultBranch,
    ...(i.config ? { config: i.config } : {}),
    trusted: i.trusted,
    allowInitializeCommand: i.allowInitializeCommand,
    defaultImage: i.defaultImage,
    ...(i.limits ? { limits: i.limits } : {}),
    ...(i.lifecycle ? { lifecycle: i.lifecycle } : {}),
    ...(i.access ? { access: i.access } : {}),
    ...(i.registry ? { registry: { namespace: i.registry.namespace } } : {}),
  };
}

export async function check(
  _olds: Partial<WorkspaceInputs>,
  news: WorkspaceInputs,
): Promise<pulumi.dynamic.CheckResult> {
  const failures: pulumi.dynamic.CheckFailure[] = [];
  if (!isUnknown(news)) {
    try {
      checkDeclaration(declarationOf(news, 1));
    } catch (e) {
      for (const line of (e as Error).message.split("; ")) {
        const [property, ...rest] = line.split(": ");
        failures.push({ property: property ?? "", reason: rest.join(": ") || line });
      }
    }
  }
  return { inputs: news, failures };
}

const where = (i: WorkspaceInputs) =>
  JSON.stringify([
    i.nodeId,
    i.workspaceId,
    i.channel.kind === "folder" ? i.channel.path : [i.channel.endpoint, i.channel.bucket, i.channel.prefix],
  ]);

/** What the node would see differently (credentials of the program's channel access alone change nothing). */
const content = (i: WorkspaceInputs) =>
  JSON.stringify([
    declarationOf(i, 1),
    i.registry?.username,
    i.registry?.password,
    i.registry?.push?.username,
    i.registry?.push?.password,
    i.gitCredential,
    i.backup,
    i.signingKey,
    i.berthProviderVersion,
  ]);

export async function diff(
  _id: string,
  olds: WorkspaceOutputs,
  news: WorkspaceInputs,
): Promise<pulumi.dynamic.DiffResult> {
  const replaces = where(olds) !== where(news) ? ["nodeId"] : [];
  return {
    changes: replaces.length > 0 || content(olds) !== content(news),
    replaces,
    deleteBeforeReplace: false,
  };
}

/** The sealing key in an identity document of either format (no node key pinned: older programs). */
const publishedIdentity = z.object({ publicKey: z.string() });

async function nodePublicKey(channel: ChannelStore, nodeId: string, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await channel.get(channelKeys.identity(nodeId));
    if (text !== undefined) return publishedIdentity.parse(JSON.parse(text)).publicKey;
    if (Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(
    `node ${nodeId} has not published its key to the channel ${channel.url} within ${Math.round(timeoutMs / 1000)} s, so the registry login cannot be sealed to it: is its agent running?`,
  );
}

/** The generation of the declaration the channel holds now (0 when none). */
async function publishedGeneration(channel: ChannelStore, i: WorkspaceInputs): Promise<number> {
  const text = await channel.get(workspaceKeys.declaration(i.nodeId, i.workspaceId));
  if (text === undefined) return 0;
  const r = workspaceEnvelope.safeParse(JSON.parse(text));
  return r.success ? r.data.declaration.generation : 0;
}

async function publish(i: WorkspaceInputs, floor: number): Promise<WorkspaceOutputs> {
  const channel = openChannel(i.channel);
  const generation = Math.max(floor, await publishedGeneration(channel, i)) + 1;
  let d = declarationOf(i, generation);
  const sealingKey = async () =>
    i.nodePublicKey ?? (await nodePublicKey(channel, i.nodeId, i.nodeKeyTimeoutSeconds * 1000));
  if (i.gitCredential) {
    const g = i.gitCredential;
    const sealed: SealedGitCredential =
      "sshKey" in g
        ? { sshKey: g.sshKey, ...(g.knownHosts ? { knownHosts: g.knownHosts } : {}) }
        : { username: g.username, password: g.token };
    d = { ...d, gitCredential: sealGitCredential(d, sealed, await sealingKey()) };
  }
  if (i.backup)
    d = {
      ...d,
      backup: {
        ...i.backup.settings,
        credentials: sealBackupCredentials(d, i.backup.credentials, await sealingKey()),
      },
    };
  if (i.registry) {
    const key = await sealingKey();
    const credentials = sealRegistryLogin(
      d,
      { username: i.registry.username, password: i.registry.password },
      key,
    );
    const push = i.registry.push;
    const pushCredentials = push
      ? sealRegistryLogin(
          d,
          { username: push.username, password: push.password },
          key,
          REGISTRY_PUSH_SECRET_NAME,
        )
      : undefined;
    d = {
      ...d,
      registry: {
        namespace: i.registry.namespace,
        credentials,
        ...(pushCredentials ? { pushCredentials } : {}),
      },
    };
  }
  await channel.put(workspaceKeys.declaration(i.nodeId, i.workspaceId), signWorkspace(d, i.signingKey));
  return {
    ...i,
    generation,
    declarationKey: workspaceKeys.declaration(i.nodeId, i.workspaceId),
    statusKey: workspaceKeys.status(i.nodeId, i.workspaceId),
  };
}

export async function create(news: WorkspaceInputs): Promise<pulumi.dynamic.CreateResult> {
  const outs = await publish(news, 0);
  return { id: `${news.nodeId}/${news.workspaceId}`, outs };
}

export async function update(
  _id: string,
  olds: WorkspaceOutputs,
  news: WorkspaceInputs,
): Promise<pulumi.dynamic.UpdateResult> {
  return { outs: await publish(news, olds.generation ?? 0) };
}

export async function remove(_id: string, olds: WorkspaceOutputs): Promise<void> {
  await openChannel(olds.channel).delete(workspaceKeys.declaration(olds.nodeId, olds.workspaceId));
}
