// The Release dynamic provider's logic, run inside the provider process (bundled into
// dist/provider-runtime.js). check validates the Compose file (its FILE:LINE:COL problems show in
// `pulumi preview`); diff compares the semantic summary; create and update build, seal, sign and
// publish the next release, then wait for the node's word; delete takes the environment off the
// node and waits for it to be torn down.
import type * as pulumi from "@pulumi/pulumi";
import { type AccessPolicyInput, accessPolicySchema } from "../../contract/access/schema";
import { type EnvironmentBackupInput, environmentBackupSchema } from "../../contract/backup/schema";
import type { ChannelSpec } from "../../contract/channel/access";
import { channelKeys } from "../../contract/channel/layout";
import type { NodeKeys } from "../../contract/channel/node-identity";
import {
  publishRelease,
  readVerifiedStatus,
  StatusTimeoutError,
  waitForOutcome,
  withdrawEnvironment,
} from "../../contract/channel/publish";
import { nextSequence } from "../../contract/channel/sequence";
import type { ChannelStore } from "../../contract/channel/store";
import { diskProjectFiles, formatProblem, loadCompose } from "../../contract/compose";
import { parseReference, resolveDigest } from "../../contract/oci";
import { buildRelease, referencedSecrets } from "../../contract/release/build";
import { buildRollback } from "../../contract/release/history";
import { pinImages } from "../../contract/release/pin";
import { REGISTRY_CREDENTIALS_SECRET } from "../../contract/release/registry-credentials";
import { parseTlsBundle, type TlsBundle, tlsSecretName, uncoveredHosts } from "../../contract/release/tls";
import { DISK_PATH, RenderError } from "../../contract/render/node-compose";
import { renderSwarmStack } from "../../contract/swarm/render";
import { type ReleaseSummary, summaryChanges } from "../release/summary";
import { openChannel } from "./channel";
import { type Observed, observe } from "./observed";
import { isUnknown } from "./unknown";

export interface RegistryAccess {
  host: string;
  /** Images must live under `host/prefix` unless allowOutside. */
  prefix: string;
  allowOutside: boolean;
  username: string;
  password: string;
}

export interface ReleaseInputs {
  berthKind: "release";
  berthProviderVersion: string;
  environmentId: string;
  nodeId: string;
  /**
   * The node's keys as the program's state holds them (the node resource's outputs): secrets are
   * sealed to `publicKey` only, and only a status signed by `statusKey` is believed.
   */
  nodeKeys: NodeKeys;
  channel: ChannelSpec;
  composeFile: string;
  composeText: string;
  projectDir: string;
  variables: Record<string, string>;
  /** The active Compose profiles (absent in states written before they existed: none). */
  profiles?: string[];
  /** The node's platform when not linux/amd64 (absent in states written before it existed). */
  platform?: string;
  /** Pinned images of the services built from `build:` (the others are resolved here). */
  images: Record<string, string>;
  registry: RegistryAccess;
  secrets: Record<string, string>;
  /** name → PEM bundle for the node proxy's TLS (absent in states written before it existed). */
  certificates?: Record<string, string>;
  /** Compose volume → block device on the node (cloud volumes). */
  disks?: Record<string, string>;
  signingKey: string;
  backup?: EnvironmentBackupInput;
  /** Operators granted this environment and the node's command switch (absent: no one). */
  access?: AccessPolicyInput;
  /** Publish the content of this earlier release (a rollback) instead of the Compose file's. */
  rollbackTo?: number;
  volumeRoot?: string;
  /**
   * An environment on a node group (issue 23): the release is rendered for `docker stack deploy`
   * and published to the group's leading manager (`nodeId`, `nodeKeys`). `versionKey` (hex,
   * secret) versions the swarm secrets' names (contract/swarm/names.ts).
   */
  swarm?: SwarmReleaseInput;
  timeoutSeconds: number;
  summary: ReleaseSummary;
}

export interface SwarmReleaseInput {
  group: string;
  /** Compose volume → the group's node that holds its disk. */
  volumeNodes: Record<string, string>;
  versionKey: string;
  /** Overlays encrypted (the default; a kernel without IPsec ESP cannot, docs/swarm.md). */
  encryptNetworks?: boolean;
  /** The proxy on every node (contract/swarm/proxy.ts): an HAProxy image, pinned at each release. */
  proxy?: { image: string; port: number };
}

export interface ReleaseOutputs extends ReleaseInputs {
  sequence: number;
  composeSha256: string;
  state: string;
  /** Seconds spent pinning, rendering, sealing, signing and publishing the last release. */
  publishSeconds: number;
  /** Seconds from publishing until the node reported the outcome. */
  applySeconds: number;
  /** What the last `pulumi up` or `pulumi refresh` saw of the node (its signed status). */
  observed?: Observed;
}

function validate(news: ReleaseInputs) {
  return loadCompose(news.composeText, {
    file: news.composeFile,
    projectDir: news.projectDir,
    variables: news.variables,
    files: diskProjectFiles(news.projectDir),
    ...(news.profiles?.length ? { profiles: news.profiles } : {}),
    ...(news.platform ? { platform: news.platform } : {}),
  });
}

function inNamespace(image: string, r: RegistryAccess): boolean {
  try {
    const ref = parseReference(image);
    const prefix = r.prefix.replace(/\/+$/, "");
    return (
      ref.registry === r.host &&
      (prefix === "" || ref.repository === prefix || ref.repository.startsWith(`${prefix}/`))
    );
  } catch {
    return false;
  }
}

export async function check(_olds: unknown, news: ReleaseInputs): Promise<pulumi.dynamic.CheckResult> {
  const failures: pulumi.dynamic.CheckFailure[] = [];
  if (isUnknown(news.composeText) || isUnknown(news.variables)) return { inputs: news, failures };
  const r = validate(news);
  if (!r.ok) {
    for (const p of r.problems) failures.push({ property: "composeText", reason: formatProblem(p) });
    return { inputs: news, failures };
  }
  if (!isUnknown(news.registry) && !news.registry.allowOutside) {
    for (const [name, s] of Object.entries(r.manifest.services)) {
      if (s.image && !s.build && !inNamespace(s.image, news.registry)) {
        failures.push({
          property: "composeText",
          reason: `${news.composeFile}: services.${name}.image: ${s.image} is outside the environment's registry namespace ${news.registry.host}/${news.registry.prefix}: push it there, or allow images from elsewhere (allowImagesOutsideNamespace)`,
        });
      }
    }
  }
  const backup = isUnknown(news.backup) ? undefined : checkBackup(news, failures);
  if (!isUnknown(news.secrets) && backup) {
    for (const [what, name] of Object.entries(backup.secrets)) {
      if (news.secrets[name] === undefined) {
        failures.push({
          property: "secrets",
          reason: `environment ${news.environmentId}: backup.secrets.${what}: the secret ${name} has no value: pulumi config set --secret --path 'berth:secrets.${name}' VALUE`,
        });
      }
    }
  }
  if (!isUnknown(news.secrets)) {
    for (const name of referencedSecrets(r.manifest)) {
      if (news.secrets[name] === undefined) {
        failures.push({
          property: "secrets",
          reason: `${news.composeFile}: secret ${name} is referenced (x-berth-secret) but has no value: pulumi config set --secret --path 'berth:secrets.${name}' VALUE`,
        });
      }
    }
  }
  if (!isUnknown(news.certificates)) failures.push(...checkCertificates(news, r.manifest.routes));
  if (news.swarm !== undefined && !isUnknown(news.swarm))
    failures.push(...checkSwarmRender(news, r.manifest));
  if (!isUnknown(news.disks)) {
    for (const [vol, disk] of Object.entries(news.disks ?? {})) {
      if (isUnknown(disk)) continue;
      if (!(vol in r.manifest.volumes))
        failures.push({
          property: "disks",
          reason: `environment ${news.environmentId}: a cloud volume backs ${vol}, but ${news.composeFile} declares no volume ${vol} (volumes: ${Object.keys(r.manifest.volumes).join(", ") || "none"}): fix berth:environments[].volumes[].name`,
        });
      else if (!DISK_PATH.test(disk))
        failures.push({
          property: "disks",
          reason: `environment ${news.environmentId}: volume ${vol}: ${JSON.stringify(disk)} is not a device path under /dev`,
        });
    }
  }
  return { inputs: news, failures };
}

/** Each bundle parses, matches its key and is in date; every route host has one (when any is given). */
function checkCertificates(
  news: ReleaseInputs,
  routes: readonly { host: string }[],
): pulumi.dynamic.CheckFailure[] {
  const failures: pulumi.dynamic.CheckFailure[] = [];
  const bundles: TlsBundle[] = [];
  for (const [name, pem] of Object.entries(news.certificates ?? {})) {
    if (isUnknown(pem)) return [];
    try {
      tlsSecretName(name);
      bundles.push(parseTlsBundle(name, pem));
    } catch (e) {
      failures.push({
        property: "certificates",
        reason: `environment ${news.environmentId}: ${(e as Error).message}`,
      });
    }
  }
  if (failures.length > 0 || bundles.length === 0) return failures;
  const missing = uncoveredHosts(
    bundles,
    routes.map((r) => r.host),
  );
  if (missing.length > 0) {
    failures.push({
      property: "certificates",
      reason: `environment ${news.environmentId}: no certificate covers route host${missing.length > 1 ? "s" : ""} ${missing.join(", ")} (the certificates cover ${bundles.flatMap((b) => b.hosts).join(", ")}): add one for ${missing.length > 1 ? "them" : "it"}, or a wildcard`,
    });
  }
  return failures;
}

/**
 * A node group's release is rendered for Swarm at apply; what that render refuses (a secret in an
 * environment variable, a service whose volumes sit on two nodes, …) shows at preview.
 */
function checkSwarmRender(
  news: ReleaseInputs,
  m: Parameters<typeof renderSwarmStack>[0],
): pulumi.dynamic.CheckFailure[] {
  const swarm = news.swarm as SwarmReleaseInput;
  try {
    renderSwarmStack(m, {
      environmentId: news.environmentId,
      sequence: 1,
      // Placeholders: pinning happens at apply, and only the shape is checked here.
      images: Object.fromEntries(
        Object.keys(m.services).map((s) => [s, `preview.invalid/${s}@sha256:${"0".repeat(64)}`]),
      ),
      volumeNodes: swarm.volumeNodes,
      ...(news.disks !== undefined &&
      !isUnknown(news.disks) &&
      Object.values(news.disks).every((d) => !isUnknown(d))
        ? { disks: news.disks }
        : {}),
      secretVersions: Object.fromEntries(
        Object.values(m.secrets ?? {}).map((c) => [c.secret, "0".repeat(12)]),
      ),
      ...(swarm.proxy
        ? { proxy: { image: `preview.invalid/proxy@sha256:${"0".repeat(64)}`, port: swarm.proxy.port } }
        : {}),
      ...(news.backup !== undefined && !isUnknown(news.backup)
        ? (() => {
            const b = environmentBackupSchema.safeParse(news.backup);
            return b.success ? { backup: b.data } : {};
          })()
        : {}),
    });
    return [];
  } catch (e) {
    const problems = e instanceof RenderError ? e.problems : [(e as Error).message];
    return problems.map((p) => ({
      property: "composeText",
      reason: `${news.composeFile}: on node group ${swarm.group}: ${p}`,
    }));
  }
}

/** Reserved secrets that carry the certificates to the node. */
function certificateSecrets(certificates: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(certificates ?? {}).map(([n, pem]) => [tlsSecretName(n), pem]));
}

/** The environment's backup declaration, parsed; each problem names its field. */
function checkBackup(news: ReleaseInputs, failures: pulumi.dynamic.CheckFailure[]) {
  if (news.backup === undefined) return undefined;
  const b = environmentBackupSchema.safeParse(news.backup);
  if (b.success) return b.data;
  for (const issue of b.error.issues) {
    failures.push({
      property: "backup",
      reason: `environment ${news.environmentId}: backup.${issue.path.map(String).join(".")}: ${issue.message}`,
    });
  }
  return undefined;
}

/** The properties whose change means a new release; empty when nothing a node runs changes. */
export function changedProperties(olds: ReleaseOutputs, news: ReleaseInputs): string[] {
  const changed = summaryChanges(olds.summary, news.summary).map((p) => `summary.${p}`);
  const secretNames = new Set([...Object.keys(olds.secrets ?? {}), ...Object.keys(news.secrets ?? {})]);
  for (const k of [...secretNames].sort())
    if (olds.secrets?.[k] !== news.secrets?.[k]) changed.push(`secrets.${k}`);
  const certNames = new Set([
    ...Object.keys(olds.certificates ?? {}),
    ...Object.keys(news.certificates ?? {}),
  ]);
  for (const k of [...certNames].sort())
    if (olds.certificates?.[k] !== news.certificates?.[k]) changed.push(`certificates.${k}`);
  for (const k of [
    "nodeKeys",
    "images",
    "signingKey",
    "berthProviderVersion",
    "registry",
    "channel",
    "volumeRoot",
    "disks",
    "backup",
    "access",
    "rollbackTo",
    "swarm",
  ] as const) {
    if (JSON.stringify(olds[k]) !== JSON.stringify(news[k])) changed.push(k);
  }
  return changed;
}

export async function diff(
  _id: string,
  olds: ReleaseOutputs,
  news: ReleaseInputs,
): Promise<pulumi.dynamic.DiffResult> {
  const replaces: string[] = [];
  if (olds.environmentId !== news.environmentId) replaces.push("environmentId");
  if (olds.nodeId !== news.nodeId) replaces.push("nodeId");
  // A refresh that found the environment not running its release (a lost or silent node, a
  // rollback on the node) is drift: the update publishes the release again.
  const drifted = olds.observed !== undefined && !olds.observed.running;
  const changes = replaces.length > 0 || drifted || changedProperties(olds, news).length > 0;
  return { changes, replaces, deleteBeforeReplace: true };
}

/** `pulumi refresh`: what the node's signed status says now (in `observed`). */
export async function read(id: string, props: ReleaseOutputs): Promise<pulumi.dynamic.ReadResult> {
  if (!props?.nodeKeys?.statusKey || props.sequence === undefined) return { id, props };
  const channel = openChannel(props.channel);
  const check = await readVerifiedStatus(
    channel,
    props.nodeId,
    props.environmentId,
    props.nodeKeys.statusKey,
  );
  return {
    id,
    props: {
      ...props,
      observed: observe(check, {
        nodeId: props.nodeId,
        environmentId: props.environmentId,
        sequence: props.sequence,
        now: new Date(),
      }),
    },
  };
}

/**
 * The content of release `to` (as published in the channel, its signature checked), as release
 * `sequence`: sealed again with the current secret values and signed anew.
 */
async function rollbackRelease(
  channel: ChannelStore,
  news: ReleaseInputs,
  to: number,
  sequence: number,
  secrets: Record<string, string>,
  nodePublicKey: string,
) {
  const text = await channel.get(channelKeys.release(news.nodeId, news.environmentId, to));
  if (text === undefined)
    throw new Error(
      `rollbackTo: release ${to} of ${news.environmentId} is not in the release channel (berth releases ${news.environmentId} lists the releases there)`,
    );
  return buildRollback({
    text,
    environmentId: news.environmentId,
    nodeId: news.nodeId,
    sequence,
    secrets,
    nodePublicKey,
    signingKey: news.signingKey,
    ...(news.access ? { access: accessPolicySchema.parse(news.access) } : {}),
  });
}

/** buildRelease's swarm options from the Release's input; the proxy's image pinned by `pin`. */
export async function swarmOptions(s: SwarmReleaseInput, pin: (ref: string) => Promise<string>) {
  const versionKey = Buffer.from(s.versionKey, "hex");
  if (versionKey.length < 32)
    throw new Error(`node group ${s.group}: the swarm's version key is not 32 bytes of hex`);
  return {
    volumeNodes: s.volumeNodes,
    versionKey,
    ...(s.encryptNetworks !== undefined ? { encryptNetworks: s.encryptNetworks } : {}),
    ...(s.proxy ? { proxy: { image: await pin(s.proxy.image), port: s.proxy.port } } : {}),
  };
}

async function publishAndWait(news: ReleaseInputs, floor: number): Promise<ReleaseOutputs> {
  const started = Date.now();
  const r = validate(news);
  if (!r.ok) throw new Error(r.problems.map(formatProblem).join("\n"));
  const channel = openChannel(news.channel);
  const timeoutMs = news.timeoutSeconds * 1000;
  const credentials = {
    [news.registry.host]: { username: news.registry.username, password: news.registry.password },
  };
  // Sealed only to the key the program's state holds for the node, never to what the channel says.
  const publicKey = news.nodeKeys.publicKey;
  const sequence = await nextSequence(channel, {
    nodeId: news.nodeId,
    environmentId: news.environmentId,
    floor,
    signingKey: news.signingKey,
  });
  const secrets = {
    ...news.secrets,
    ...certificateSecrets(news.certificates),
    [REGISTRY_CREDENTIALS_SECRET]: JSON.stringify(credentials),
  };
  const built = news.rollbackTo
    ? await rollbackRelease(channel, news, news.rollbackTo, sequence, secrets, publicKey)
    : buildRelease({
        manifest: r.manifest,
        environmentId: news.environmentId,
        nodeId: news.nodeId,
        sequence,
        images: await pinImages(
          r.manifest,
          news.images,
          async (ref) => (await resolveDigest(ref, { credentials })).pinned,
        ),
        secrets,
        nodePublicKey: publicKey,
        signingKey: news.signingKey,
        ...(news.backup ? { backup: environmentBackupSchema.parse(news.backup) } : {}),
        ...(news.access ? { access: accessPolicySchema.parse(news.access) } : {}),
        ...(news.volumeRoot ? { volumeRoot: news.volumeRoot } : {}),
        ...(news.disks ? { disks: news.disks } : {}),
        ...(news.swarm
          ? {
              swarm: await swarmOptions(
                news.swarm,
                async (ref) => (await resolveDigest(ref, { credentials })).pinned,
              ),
            }
          : {}),
      });
  await publishRelease(channel, {
    nodeId: news.nodeId,
    environmentId: news.environmentId,
    sequence,
    envelope: built.text,
  });
  const published = Date.now();
  let status: Awaited<ReturnType<typeof waitForOutcome>>;
  try {
    status = await waitForOutcome(channel, {
      nodeId: news.nodeId,
      environmentId: news.environmentId,
      sequence,
      timeoutMs,
      statusKey: news.nodeKeys.statusKey,
    });
  } catch (e) {
    if (e instanceof StatusTimeoutError)
      throw new Error(`${e.message}; the release stays published and the node will apply it when it can`);
    throw e;
  }
  if (status.state !== "applied") {
    throw new Error(
      `node ${news.nodeId} did not apply release ${sequence} of ${news.environmentId} (${status.state}): ${status.error ?? "no reason given"}` +
        (status.logTail ? `\nlast log lines:\n${status.logTail}` : ""),
    );
  }
  const asked = news.backup ? environmentBackupSchema.parse(news.backup).restore : undefined;
  const restore = status.backup?.restore;
  if (asked && restore) {
    const bad = restore.volumes.filter((v) => v.action !== "restored");
    if (bad.length > 0)
      throw new Error(
        `node ${news.nodeId} applied release ${sequence} of ${news.environmentId}, but the restore asked with backup.restore did not replace every volume: ${bad.map((v) => `${v.volume}: ${v.action}: ${v.detail}`).join("; ")}`,
      );
  }
  return {
    ...news,
    sequence,
    composeSha256: built.payload.compose.sha256,
    state: status.state,
    publishSeconds: (published - started) / 1000,
    applySeconds: (Date.now() - published) / 1000,
    observed: observe(
      { ok: true, status },
      { nodeId: news.nodeId, environmentId: news.environmentId, sequence, now: new Date() },
    ),
  };
}

export async function create(news: ReleaseInputs): Promise<pulumi.dynamic.CreateResult> {
  const outs = await publishAndWait(news, 0);
  return { id: `${news.environmentId}@${news.nodeId}`, outs };
}

export async function update(
  _id: string,
  olds: ReleaseOutputs,
  news: ReleaseInputs,
): Promise<pulumi.dynamic.UpdateResult> {
  return { outs: await publishAndWait(news, olds.sequence ?? 0) };
}

export async function remove(_id: string, olds: ReleaseOutputs): Promise<void> {
  const channel = openChannel(olds.channel);
  // A signed withdrawal above every release: the node tears down on that, never on a missing
  // desired.json (which a channel writer can delete).
  const sequence = await nextSequence(channel, {
    nodeId: olds.nodeId,
    environmentId: olds.environmentId,
    floor: olds.sequence ?? 0,
    signingKey: olds.signingKey,
  });
  await withdrawEnvironment(channel, {
    nodeId: olds.nodeId,
    environmentId: olds.environmentId,
    sequence,
    signingKey: olds.signingKey,
  });
  const deadline = Date.now() + Math.min(olds.timeoutSeconds, 120) * 1000;
  // Wait for the node to tear the environment down; a node that is already gone cannot answer,
  // so after the bound the delete goes on (the environment is no longer desired either way).
  while (Date.now() < deadline) {
    const check = olds.nodeKeys?.statusKey
      ? await readVerifiedStatus(channel, olds.nodeId, olds.environmentId, olds.nodeKeys.statusKey)
      : undefined;
    if (!check?.ok || check.status.state === "removed") break;
    const identity = await channel.get(channelKeys.identity(olds.nodeId));
    if (identity === undefined) break;
    await new Promise((r) => setTimeout(r, 500));
  }
}
