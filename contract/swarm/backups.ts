// Backups of a swarm environment's volumes (issue 23, "backups address the node holding each
// volume"). A volume on a node group is a Docker volume of the engine of the node that holds it
// (`berth:environments[].volumes[].node`), and only the group's leader receives the release, with
// the backup settings (the stack's `x-berth.backup`, below) and the sealed secrets. So the leader
// hands each holder its backup order:
//
//   swarm/<group>/backups/<env>.json   leader → the nodes that hold the environment's volumes
//   { "formatVersion": 1, "keyId": "ed25519:<32 hex>", "signature": "<base64url>",
//     "order": { "domain": "berth/swarm-backups/v1", "group", "environmentId", "sequence",
//                "withdrawn", "backup": { …settings, volumes: [ { name, node, … } ] },
//                "maintainer": "<nodeId>", "secrets": { "<nodeId>": [ sealed box, … ] },
//                "issuedAt" } }
//
// - Signed by the leader's status key (the one the program's signed membership pins), over the
//   canonical JSON of { domain, order }, as the route tables are (routes.ts): a channel writer
//   can delete an order (a holder then keeps what it had), not forge or move one.
// - `sequence` is the release the order comes from; a withdrawal keeps it and sets `withdrawn`.
//   A holder keeps the highest (sequence, withdrawn) it acted on per environment.
// - `secrets`: the repository password and the bucket keys (the names `backup.secrets` gives),
//   opened by the leader from its release and sealed again to each holder's node key as the
//   membership pins it (contract/payload/seal.ts), each box bound to (environment, that node, the
//   order's sequence, the secret's name): a box moved to another node, release, environment or
//   name does not open. Only holders get boxes; the channel never holds a secret in plain text.
// - `maintainer`: the one holder that runs the repository's prune and check (two holders
//   pruning one repository at once would fight over restic's exclusive lock).
// Pure functions and schemas; the agents read and write the channel.
import * as z from "zod";
import { nodeBackupSchema, nodeBackupVolumeSchema } from "../backup/schema";
import { idSchema } from "../ids";
import type { KeyInput } from "../payload/keys";
import { sealedSecretSchema } from "../payload/schema";
import { seal, unseal } from "../payload/seal";
import {
  type LeaderDocumentKind,
  type RouteFloor,
  signLeaderDocument,
  verifyLeaderDocument,
} from "./leader-signed";

export const BACKUPS_DOMAIN = "berth/swarm-backups/v1";
/** An order larger than this is not parsed. */
export const MAX_BACKUP_ORDER_BYTES = 256 * 1024;

/** One volume of a swarm environment as the release carries it: the node that holds it, no folder. */
export const swarmBackupVolumeSchema = nodeBackupVolumeSchema
  .omit({ device: true })
  .extend({ node: idSchema() })
  .strict();

/**
 * `x-berth.backup` of a swarm stack: the single node's settings (contract/backup/schema.ts), each
 * volume with its holder instead of a folder (the holder asks its engine where the volume is).
 */
export const swarmBackupSchema = nodeBackupSchema
  .omit({ volumes: true })
  .extend({ volumes: z.array(swarmBackupVolumeSchema) })
  .strict();
export type SwarmBackup = z.infer<typeof swarmBackupSchema>;

/** The channel key of an environment's backup order in a group. */
export function backupOrderKey(group: string, environmentId: string): string {
  return `${backupOrderPrefix(group)}${idSchema().parse(environmentId)}.json`;
}

export function backupOrderPrefix(group: string): string {
  return `swarm/${idSchema().parse(group)}/backups/`;
}

const orderSchema = z
  .object({
    domain: z.literal(BACKUPS_DOMAIN),
    group: idSchema(),
    environmentId: idSchema(),
    sequence: z.number().int().positive(),
    withdrawn: z.boolean(),
    backup: swarmBackupSchema.optional(),
    maintainer: idSchema().optional(),
    secrets: z.record(idSchema(), z.array(sealedSecretSchema).max(10)).optional(),
    issuedAt: z.iso.datetime(),
  })
  .strict()
  .superRefine((o, ctx) => {
    if (!o.withdrawn && (!o.backup || !o.maintainer || !o.secrets))
      ctx.addIssue({
        code: "custom",
        message: "an order that is not withdrawn needs backup, maintainer, secrets",
      });
  });
export type BackupOrder = z.infer<typeof orderSchema>;

/** The nodes that hold a volume the backup names, sorted. */
export function backupHolders(b: SwarmBackup): string[] {
  return [...new Set(b.volumes.map((v) => v.node))].sort();
}

/** The secret names an order's boxes hold: the repository password and the bucket keys. */
export function orderSecretNames(b: SwarmBackup): string[] {
  return [b.secrets.password, b.secrets.accessKeyId, b.secrets.secretAccessKey];
}

/** The order's text, signed by the leader's status key. */
export function signBackupOrder(
  o: Omit<BackupOrder, "domain" | "issuedAt"> & { issuedAt?: string },
  leaderStatusKey: KeyInput,
): string {
  return signLeaderDocument(
    BACKUP_ORDER,
    { ...o, domain: BACKUPS_DOMAIN, issuedAt: o.issuedAt ?? new Date().toISOString() },
    leaderStatusKey,
  );
}

export class BackupOrderError extends Error {
  override readonly name = "BackupOrderError";
}

const BACKUP_ORDER: LeaderDocumentKind<BackupOrder> = {
  domain: BACKUPS_DOMAIN,
  field: "order",
  what: "backup order",
  maxBytes: MAX_BACKUP_ORDER_BYTES,
  schema: orderSchema,
  error: BackupOrderError,
};

/**
 * Verifies an order against the leader's pinned status key and what the node expects: the group,
 * the environment, not below the floor. Throws BackupOrderError with the reason.
 */
export function verifyBackupOrder(
  text: string,
  expect: { group: string; environmentId: string; leaderStatusKey: KeyInput; floor?: RouteFloor },
): BackupOrder {
  return verifyLeaderDocument(BACKUP_ORDER, text, expect);
}

/**
 * The leader: the backup's secrets (name → value, from its opened release) sealed to each holder's
 * node key, bound to the environment, the holder, the order's sequence and the secret's name.
 * Only the names the backup gives are sealed; a holder the members do not list gets nothing (the
 * order is then refused by verifyBackupOrder's caller, naming it).
 */
export function sealOrderSecrets(
  b: SwarmBackup,
  values: Readonly<Record<string, string>>,
  members: readonly { nodeId: string; publicKey: KeyInput }[],
  binding: { environmentId: string; sequence: number },
): NonNullable<BackupOrder["secrets"]> {
  const names = orderSecretNames(b);
  for (const n of names)
    if (values[n] === undefined || values[n] === "")
      throw new BackupOrderError(
        `release ${binding.sequence} of ${binding.environmentId} carries no value for the backup secret ${n}`,
      );
  const out: NonNullable<BackupOrder["secrets"]> = {};
  for (const holder of backupHolders(b)) {
    const m = members.find((x) => x.nodeId === holder);
    if (!m)
      throw new BackupOrderError(
        `volume${b.volumes.filter((v) => v.node === holder).length > 1 ? "s" : ""} ${b.volumes
          .filter((v) => v.node === holder)
          .map((v) => v.name)
          .join(
            ", ",
          )} of ${binding.environmentId}: held by ${holder}, which the group's membership does not list`,
      );
    out[holder] = [...names]
      .sort()
      .map((name) => seal(values[name] as string, m.publicKey, { ...binding, nodeId: holder, name }));
  }
  return out;
}

/** What a holder runs: its own volumes and the secrets to reach the repository. */
export interface HeldBackup {
  /** The settings with only this node's volumes. */
  backup: SwarmBackup;
  /** Whether this node prunes and checks the repository. */
  maintains: boolean;
  secrets: Record<string, string>;
}

/**
 * A holder: its part of a verified order, its boxes opened with its node key. Undefined when the
 * order is withdrawn or names no volume on this node; throws BackupOrderError when it does and
 * no box is sealed to this node, a box does not open, or a secret is missing.
 */
export function openBackupOrder(
  o: BackupOrder,
  nodeId: string,
  nodePrivateKey: KeyInput,
): HeldBackup | undefined {
  if (o.withdrawn || !o.backup) return undefined;
  const volumes = o.backup.volumes.filter((v) => v.node === nodeId);
  if (volumes.length === 0) return undefined;
  const where = `backup order of ${o.environmentId} in group ${o.group}`;
  const boxes = o.secrets?.[nodeId];
  if (!boxes)
    throw new BackupOrderError(
      `${where}: release ${o.sequence} names volumes on node ${nodeId}, but no secret is sealed to it`,
    );
  const secrets: Record<string, string> = {};
  for (const box of boxes) {
    try {
      secrets[box.name] = unseal(box, nodePrivateKey, {
        environmentId: o.environmentId,
        nodeId,
        sequence: o.sequence,
        name: box.name,
      });
    } catch (e) {
      throw new BackupOrderError(`${where}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  const missing = orderSecretNames(o.backup).filter((n) => secrets[n] === undefined);
  if (missing.length > 0)
    throw new BackupOrderError(
      `${where}: no box for the backup secret${missing.length > 1 ? "s" : ""} ${missing.join(", ")}`,
    );
  return { backup: { ...o.backup, volumes }, maintains: o.maintainer === nodeId, secrets };
}
