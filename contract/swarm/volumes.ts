// A swarm environment's volumes, made ready on the nodes that hold them before the leader deploys
// (issue 23). A volume on a node group is a Docker volume of the engine of its holder
// (`berth:environments[].volumes[].node`), on the holder's cloud disk when the program attached
// one. `docker stack deploy` would let Swarm create the pinned task's volume on the engine's own
// disk at once, so the leader first hands each holder a volume order and waits for its signed word:
//
//   swarm/<group>/volumes/<env>.json   leader → the nodes that hold the environment's volumes
//   { "formatVersion": 1, "keyId": "ed25519:<32 hex>", "signature": "<base64url>",
//     "order": { "domain": "berth/swarm-volumes/v1", "group", "environmentId", "sequence",
//                "withdrawn": false, "volumes": [ { "name", "node", "disk"? } ], "issuedAt" } }
//
// - Signed by the leader's status key (leader-signed.ts), as route tables and backup orders are.
//   A holder acts on an order that verifies against the leader's key the membership pins, not
//   below the release it acted on.
// - The holder mounts each disk at the volume's folder (the single node's code), creates the
//   Docker volume bound to its `data/`, and says so in its own status of the environment,
//   signed with its status key: `heldVolumes: { sequence, ready: [names], problem? }`.
// - The leader deploys only when every holder's status verifies against the holder's status
//   key the membership pins, names this release's sequence, and lists each of its volumes ready.
//   A channel writer's status fails the signature; a holder's word for an older release (a replay)
//   names another sequence.
// Pure functions and schemas; the agents read and write the channel.
import * as z from "zod";
import type { EnvironmentStatus } from "../channel/status";
import { idSchema } from "../ids";
import { nameSchema } from "../manifest/schema";
import type { KeyInput } from "../payload/keys";
import { DISK_PATH } from "../render/node-compose";
import {
  type LeaderDocumentKind,
  type RouteFloor,
  signLeaderDocument,
  verifyLeaderDocument,
} from "./leader-signed";

export const VOLUMES_DOMAIN = "berth/swarm-volumes/v1";
/** An order larger than this is not parsed. */
export const MAX_VOLUME_ORDER_BYTES = 64 * 1024;

/** One volume of a swarm environment: its holder and, on a cloud node, the disk that backs it. */
export const heldVolumeSchema = z
  .object({
    name: nameSchema,
    node: idSchema(),
    disk: z.string().regex(DISK_PATH, "a device path under /dev").optional(),
  })
  .strict();
export type HeldVolume = z.infer<typeof heldVolumeSchema>;

export function volumeOrderPrefix(group: string): string {
  return `swarm/${idSchema().parse(group)}/volumes/`;
}

/** The channel key of an environment's volume order in a group. */
export function volumeOrderKey(group: string, environmentId: string): string {
  return `${volumeOrderPrefix(group)}${idSchema().parse(environmentId)}.json`;
}

const orderSchema = z
  .object({
    domain: z.literal(VOLUMES_DOMAIN),
    group: idSchema(),
    environmentId: idSchema(),
    sequence: z.number().int().positive(),
    withdrawn: z.boolean(),
    volumes: z.array(heldVolumeSchema).max(100),
    issuedAt: z.iso.datetime(),
  })
  .strict();
export type VolumeOrder = z.infer<typeof orderSchema>;

export class VolumeOrderError extends Error {
  override readonly name = "VolumeOrderError";
}

const VOLUME_ORDER: LeaderDocumentKind<VolumeOrder> = {
  domain: VOLUMES_DOMAIN,
  field: "order",
  what: "volume order",
  maxBytes: MAX_VOLUME_ORDER_BYTES,
  schema: orderSchema,
  error: VolumeOrderError,
};

/** The order's text, signed by the leader's status key. */
export function signVolumeOrder(
  o: Omit<VolumeOrder, "domain" | "issuedAt" | "withdrawn"> & { issuedAt?: string },
  leaderStatusKey: KeyInput,
): string {
  return signLeaderDocument(
    VOLUME_ORDER,
    { ...o, domain: VOLUMES_DOMAIN, withdrawn: false, issuedAt: o.issuedAt ?? new Date().toISOString() },
    leaderStatusKey,
  );
}

/** Verifies an order against the leader's pinned status key, the group, the environment, the floor. */
export function verifyVolumeOrder(
  text: string,
  expect: { group: string; environmentId: string; leaderStatusKey: KeyInput; floor?: RouteFloor },
): VolumeOrder {
  return verifyLeaderDocument(VOLUME_ORDER, text, expect);
}

/** The nodes that hold a volume, sorted. */
export function volumeHolders(volumes: readonly HeldVolume[]): string[] {
  return [...new Set(volumes.map((v) => v.node))].sort();
}

/** A placement's digest-free identity: the same volumes on the same nodes and disks. */
export function placementOf(volumes: readonly HeldVolume[]): string {
  return JSON.stringify(
    [...volumes].sort((a, b) => a.name.localeCompare(b.name)).map((v) => [v.name, v.node, v.disk ?? ""]),
  );
}

/**
 * What a holder's verified status says of release `sequence`'s volumes on it: ready, or why not
 * (its own problem when it has one). Pure: the caller verified the status's signature against
 * the holder's pinned status key, its node and its environment.
 */
export function holderReadiness(
  status: EnvironmentStatus | undefined,
  o: { holder: string; sequence: number; volumes: readonly string[] },
): { ready: true } | { ready: false; why: string } {
  const held = status?.heldVolumes;
  if (!held) return { ready: false, why: `${o.holder} has not said its volumes are ready` };
  if (held.sequence !== o.sequence)
    return {
      ready: false,
      why: `${o.holder} has not yet read release ${o.sequence}'s volume order (its word is for release ${held.sequence})`,
    };
  const missing = o.volumes.filter((v) => !held.ready.includes(v));
  if (missing.length === 0) return { ready: true };
  return {
    ready: false,
    why: `${o.holder}: ${missing.join(", ")} not ready${held.problem ? `: ${held.problem}` : ""}`,
  };
}
