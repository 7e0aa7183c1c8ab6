// A swarm environment's routes, as the group's leader hands them to every node: each node's own
// HAProxy (80/443) sends these hosts to its node's `berth-proxy` port (contract/swarm/proxy.ts).
// Only the leader receives the environment's signed release; it writes, after each apply and
// after a withdrawal, one route table per environment:
//
//   swarm/<group>/routes/<env>.json   leader → every node of the group
//   { "formatVersion": 1, "keyId": "ed25519:<32 hex>", "signature": "<base64url>",
//     "table": { "domain": "berth/swarm-routes/v1", "group", "environmentId", "sequence",
//                "withdrawn", "port", "routes": [ { "host", "path"? }, … ], "issuedAt" } }
//
// - Signed by the leader's status key (the one the program's signed membership pins), over the
//   canonical JSON of { domain, table }: a channel writer can delete a table (a node then keeps
//   what it has), not forge one that sends a node's traffic elsewhere or drops a host.
// - `sequence` is the release the table comes from; a withdrawal keeps it and sets `withdrawn`.
//   A node keeps the highest (sequence, withdrawn) it acted on per environment, so a replayed
//   older table is refused.
// - The routes come from the release's `x-berth.proxy`, which the program signed; each node
//   sends them only to its own node's proxy port (never to an address the table names).
// - `tls` (optional): the environment's TLS certificates (the release's `berth.tls.<name>`
//   bundles, which only the leader can open), sealed again by the leader to each member's node
//   key (contract/payload/seal.ts, bound to the environment, that node, the table's sequence and
//   the bundle's name): `{ "<nodeId>": [ sealed box, … ] }`. Only that node opens its boxes; the
//   channel never holds a key in plain text. Every member's HAProxy then serves the certificates
//   on 443 for the environment's hosts, as the leader's does.
// Pure functions and schemas; the agents read and write the channel.
import { sign, verify } from "node:crypto";
import * as z from "zod";
import { idSchema } from "../ids";
import { routeSchema } from "../manifest/schema";
import { canonicalBytes, canonicalJson } from "../payload/canonical";
import { fromBase64Url, toBase64Url } from "../payload/encoding";
import { type KeyInput, keyIdOf, loadSigningPrivateKey, loadSigningPublicKey } from "../payload/keys";
import { sealedSecretSchema } from "../payload/schema";
import { seal, unseal } from "../payload/seal";

export const ROUTES_DOMAIN = "berth/swarm-routes/v1";
/** A table larger than this is not parsed. */
export const MAX_ROUTE_TABLE_BYTES = 256 * 1024;

/** The channel key of an environment's route table in a group. */
export function routeTableKey(group: string, environmentId: string): string {
  return `${routeTablePrefix(group)}${idSchema().parse(environmentId)}.json`;
}

export function routeTablePrefix(group: string): string {
  return `swarm/${idSchema().parse(group)}/routes/`;
}

const tableSchema = z
  .object({
    domain: z.literal(ROUTES_DOMAIN),
    group: idSchema(),
    environmentId: idSchema(),
    sequence: z.number().int().positive(),
    withdrawn: z.boolean(),
    port: z.number().int().min(1024).max(65535),
    routes: z.array(routeSchema.pick({ host: true, path: true }).strict()).max(1000),
    tls: z.record(idSchema(), z.array(sealedSecretSchema).max(100)).optional(),
    issuedAt: z.iso.datetime(),
  })
  .strict();
export type RouteTable = z.infer<typeof tableSchema>;

const signedSchema = z
  .object({
    formatVersion: z.literal(1),
    keyId: z.string().regex(/^ed25519:[0-9a-f]{32}$/),
    signature: z.string().min(1),
    table: z.unknown(),
  })
  .strict();

/** The table's text, signed by the leader's status key. */
export function signRouteTable(
  t: Omit<RouteTable, "domain" | "issuedAt"> & { issuedAt?: string },
  leaderStatusKey: KeyInput,
): string {
  const table = tableSchema.parse({
    ...t,
    domain: ROUTES_DOMAIN,
    issuedAt: t.issuedAt ?? new Date().toISOString(),
  });
  const key = loadSigningPrivateKey(leaderStatusKey);
  const signature = sign(null, canonicalBytes({ domain: ROUTES_DOMAIN, table }), key);
  return `${canonicalJson({ formatVersion: 1, keyId: keyIdOf(key), signature: toBase64Url(signature), table })}\n`;
}

export class RouteTableError extends Error {
  override readonly name = "RouteTableError";
}

/** Where a table stands in the order a node acts on: (sequence, withdrawn). */
export interface RouteFloor {
  sequence: number;
  withdrawn: boolean;
}

/** `a` is below `b`: an older release, or the same release before its withdrawal. */
export function belowFloor(a: RouteFloor, b: RouteFloor): boolean {
  return a.sequence < b.sequence || (a.sequence === b.sequence && !a.withdrawn && b.withdrawn);
}

/**
 * Verifies a table against the leader's pinned status key and what the node expects. Throws
 * RouteTableError with the reason.
 */
export function verifyRouteTable(
  text: string,
  expect: { group: string; environmentId: string; leaderStatusKey: KeyInput; floor?: RouteFloor },
): RouteTable {
  const where = `route table of ${expect.environmentId} in group ${expect.group}`;
  if (Buffer.byteLength(text, "utf8") > MAX_ROUTE_TABLE_BYTES)
    throw new RouteTableError(`${where}: larger than ${MAX_ROUTE_TABLE_BYTES} bytes, not read`);
  let envelope: z.infer<typeof signedSchema>;
  try {
    envelope = signedSchema.parse(JSON.parse(text));
  } catch {
    throw new RouteTableError(`${where}: not a signed route table`);
  }
  const key = loadSigningPublicKey(expect.leaderStatusKey);
  if (envelope.keyId !== keyIdOf(key))
    throw new RouteTableError(
      `${where}: signed by ${envelope.keyId}, not by the leader's key ${keyIdOf(key)}`,
    );
  const signature = fromBase64Url(envelope.signature);
  if (
    !signature ||
    !verify(null, canonicalBytes({ domain: ROUTES_DOMAIN, table: envelope.table }), key, signature)
  )
    throw new RouteTableError(`${where}: the signature does not verify with the leader's key`);
  const parsed = tableSchema.safeParse(envelope.table);
  if (!parsed.success)
    throw new RouteTableError(`${where}: malformed (${parsed.error.issues[0]?.message ?? "?"})`);
  const t = parsed.data;
  if (t.group !== expect.group || t.environmentId !== expect.environmentId)
    throw new RouteTableError(`${where}: the table is ${t.environmentId}'s in group ${t.group}`);
  if (expect.floor && belowFloor(t, expect.floor))
    throw new RouteTableError(
      `${where}: release ${t.sequence}${t.withdrawn ? " (withdrawn)" : ""} is below release ${expect.floor.sequence}${expect.floor.withdrawn ? " (withdrawn)" : ""}, which this node has acted on`,
    );
  return t;
}

/**
 * The leader: the environment's certificate bundles (secret name `berth.tls.<name>` → PEM) sealed
 * to each member's node key, bound to the environment, the member, the table's sequence and the
 * bundle's name. Sorted by name; every member gets every bundle.
 */
export function sealTableCertificates(
  bundles: Readonly<Record<string, string>>,
  members: readonly { nodeId: string; publicKey: KeyInput }[],
  binding: { environmentId: string; sequence: number },
): NonNullable<RouteTable["tls"]> {
  const names = Object.keys(bundles).sort();
  return Object.fromEntries(
    members.map((m) => [
      m.nodeId,
      names.map((name) => seal(bundles[name] as string, m.publicKey, { ...binding, nodeId: m.nodeId, name })),
    ]),
  );
}

/**
 * A member: its own sealed bundles of a verified table, opened with its node key (name → PEM).
 * None when the table has no certificates; throws RouteTableError when the table has some but
 * none for this node, or a box does not open.
 */
export function openTableCertificates(
  t: RouteTable,
  nodeId: string,
  nodePrivateKey: KeyInput,
): Record<string, string> {
  if (!t.tls) return {};
  const boxes = t.tls[nodeId];
  if (!boxes)
    throw new RouteTableError(
      `route table of ${t.environmentId} in group ${t.group}: release ${t.sequence} has certificates, none sealed to node ${nodeId}`,
    );
  const out: Record<string, string> = {};
  for (const box of boxes) {
    try {
      out[box.name] = unseal(box, nodePrivateKey, {
        environmentId: t.environmentId,
        nodeId,
        sequence: t.sequence,
        name: box.name,
      });
    } catch (e) {
      throw new RouteTableError(
        `route table of ${t.environmentId} in group ${t.group}: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
  }
  return out;
}
