// The whole release contract in one call: Compose text → validated manifest → the node's
// rendered Compose file → a payload with sealed secrets → signed envelope. Used by the `berth`
// CLI, the Release dynamic provider and the contract benchmark.

import type { KeyObject } from "node:crypto";
import type { AccessPolicy } from "../access/schema";
import type { EnvironmentBackup } from "../backup/schema";
import type { Manifest } from "../manifest/schema";
import {
  createReleasePayload,
  type KeyInput,
  type ReleaseEnvelope,
  type ReleasePayload,
  signAndSerialize,
} from "../payload";
import { backupSecretNames, renderNodeCompose } from "../render/node-compose";
import { secretVersion } from "../swarm/names";
import { renderSwarmStack } from "../swarm/render";

export { validateCompose } from "./validate";

export class MissingSecretError extends Error {}

/** The secret names a manifest references, sorted. */
export function referencedSecrets(m: Manifest): string[] {
  const names = new Set<string>();
  for (const s of Object.values(m.services)) {
    for (const v of Object.values(s.environment)) if ("secret" in v) names.add(v.secret);
  }
  for (const c of Object.values(m.secrets ?? {})) names.add(c.secret);
  return [...names].sort();
}

export interface ReleaseInput {
  manifest: Manifest;
  environmentId: string;
  nodeId: string;
  sequence: number;
  /** Pinned image per service (`repo@sha256:…`). */
  images: Record<string, string>;
  /** Values of the secrets the manifest references (and reserved berth.* secrets). */
  secrets: Record<string, string>;
  nodePublicKey: KeyInput;
  signingKey: KeyInput | KeyObject;
  volumeRoot?: string;
  /** Compose volume → block device on the node (cloud volumes). */
  disks?: Record<string, string>;
  defaultMemoryLimitBytes?: number;
  /** The environment's backups; their secrets must be among `secrets`. */
  backup?: EnvironmentBackup | undefined;
  /** The operators granted this environment, and whether commands are on for the node. */
  access?: AccessPolicy | undefined;
  issuedAt?: Date;
  expiresAt?: Date;
  /**
   * An environment on a node group: the release is rendered for `docker stack deploy`
   * (contract/swarm/render.ts) and goes to the group's leading manager. Secret versions are
   * HMACs of the values under `versionKey`, a key only the program holds (contract/swarm/names.ts).
   */
  swarm?: {
    volumeNodes: Record<string, string>;
    versionKey: Uint8Array;
    encryptNetworks?: boolean;
    /** The environment's proxy on every node (contract/swarm/proxy.ts), its image pinned. */
    proxy?: { image: string; port: number };
  };
}

export interface BuiltRelease {
  rendered: { text: string };
  payload: ReleasePayload;
  envelope: ReleaseEnvelope;
  /** The envelope as published (canonical JSON). */
  text: string;
}

/** Manifest → rendered → sealed → signed. Throws when a referenced secret has no value. */
export function buildRelease(i: ReleaseInput): BuiltRelease {
  const missing = referencedSecrets(i.manifest).filter((n) => i.secrets[n] === undefined);
  if (missing.length > 0) {
    throw new MissingSecretError(
      `secret${missing.length > 1 ? "s" : ""} ${missing.join(", ")} referenced with x-berth-secret but not given a value: set ${missing.length > 1 ? "them" : "it"} (pulumi config set --secret, or berth sign --secret NAME=@FILE)`,
    );
  }
  const missingBackup = backupSecretNames(i.backup).filter((n) => i.secrets[n] === undefined);
  if (missingBackup.length > 0) {
    throw new MissingSecretError(
      `the environment's backups need the secret${missingBackup.length > 1 ? "s" : ""} ${missingBackup.join(", ")} (repository password, bucket keys): set ${missingBackup.length > 1 ? "them" : "it"} with pulumi config set --secret --path 'berth:secrets.NAME' VALUE`,
    );
  }
  const rendered = i.swarm
    ? renderSwarm(i, i.swarm)
    : renderNodeCompose(i.manifest, {
        ...(i.backup ? { backup: i.backup } : {}),
        ...(i.access ? { access: i.access } : {}),
        environmentId: i.environmentId,
        sequence: i.sequence,
        images: i.images,
        ...(i.volumeRoot ? { volumeRoot: i.volumeRoot } : {}),
        ...(i.disks ? { disks: i.disks } : {}),
        ...(i.defaultMemoryLimitBytes ? { defaultMemoryLimitBytes: i.defaultMemoryLimitBytes } : {}),
      });
  const payload = createReleasePayload({
    environmentId: i.environmentId,
    nodeId: i.nodeId,
    sequence: i.sequence,
    composeText: rendered.text,
    routes: i.manifest.routes,
    secrets: i.secrets,
    nodePublicKey: i.nodePublicKey,
    ...(i.issuedAt ? { issuedAt: i.issuedAt } : {}),
    ...(i.expiresAt ? { expiresAt: i.expiresAt } : {}),
  });
  const { envelope, text } = signAndSerialize(payload, i.signingKey);
  return { rendered, payload, envelope, text };
}

function renderSwarm(i: ReleaseInput, swarm: NonNullable<ReleaseInput["swarm"]>): { text: string } {
  const secretVersions: Record<string, string> = {};
  for (const c of Object.values(i.manifest.secrets ?? {})) {
    const value = i.secrets[c.secret];
    if (value !== undefined)
      secretVersions[c.secret] = secretVersion(swarm.versionKey, i.environmentId, c.secret, value);
  }
  return renderSwarmStack(i.manifest, {
    environmentId: i.environmentId,
    sequence: i.sequence,
    images: i.images,
    volumeNodes: swarm.volumeNodes,
    secretVersions,
    ...(swarm.encryptNetworks !== undefined ? { encryptNetworks: swarm.encryptNetworks } : {}),
    ...(swarm.proxy ? { proxy: swarm.proxy } : {}),
    ...(i.backup ? { backup: i.backup } : {}),
    ...(i.disks ? { disks: i.disks } : {}),
    ...(i.defaultMemoryLimitBytes ? { defaultMemoryLimitBytes: i.defaultMemoryLimitBytes } : {}),
  });
}
