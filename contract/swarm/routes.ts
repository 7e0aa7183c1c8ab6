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
import * as z from "zod";
import { idSchema } from "../ids";
import { routeSchema } from "../manifest/schema";
import type { KeyInput } from "../payload/keys";
import { sealedSecretSchema } from "../payload/schema";
import { seal, unseal } from "../payload/seal";
import {
  type LeaderDocumentKind,
  type RouteFloor,
  signLeaderDocument,
  verifyLeaderDocument,
} from "./leader-signed";

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

/** The table's text, signed by the leader's status key. */
export function signRouteTable(
  t: Omit<RouteTable, "domain" | "issuedAt"> & { issuedAt?: string },
  leaderStatusKey: KeyInput,
): string {
  return signLeaderDocument(
    ROUTE_TABLE,
    { ...t, domain: ROUTES_DOMAIN, issuedAt: t.issuedAt ?? new Date().toISOString() },
    leaderStatusKey,
  );
}

export class RouteTableError extends Error {
  override readonly name = "RouteTableError";
}

const ROUTE_TABLE: LeaderDocumentKind<RouteTable> = {
  domain: ROUTES_DOMAIN,
  field: "table",
  what: "route table",
  maxBytes: MAX_ROUTE_TABLE_BYTES,
  schema: tableSchema,
  error: RouteTableError,
};

/**
 * Verifies a table against the leader's pinned status key and what the node expects. Throws
 * RouteTableError with the reason.
 */
export function verifyRouteTable(
  text: string,
  expect: { group: string; environmentId: string; leaderStatusKey: KeyInput; floor?: RouteFloor },
): RouteTable {
  return verifyLeaderDocument(ROUTE_TABLE, text, expect);
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
