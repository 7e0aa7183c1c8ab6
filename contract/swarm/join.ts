// Join offers: how a swarm's join token reaches a node without being readable by anyone else.
// The manager that initialised the swarm (the group's leader) writes one offer per node:
//
//   swarm/<group>/join/<node>.json   leader → node
//   { "formatVersion": 1, "keyId": "ed25519:<32 hex>", "signature": "<base64url>",
//     "offer": { "domain": "berth/swarm-join/v1", "group", "nodeId", "role", "generation",
//                "managers": ["10.0.0.2:2377", …], "issuedAt", "expiresAt", "token": <sealed box> } }
//
// - The token is sealed (contract/payload/seal.ts) to the node's X25519 key, the one the
//   program's state pins for it, bound to (group, node, generation, `swarm-join-<role>`): an
//   offer copied to another node, another group or another role does not open.
// - The offer is signed by the leader's status key (pinned by the program as well), over the
//   canonical JSON of { domain, offer }: a channel writer can delete an offer (the node then
//   does not join, and says so), not forge one that sends a node to the writer's swarm.
// - `generation` rises when the tokens are rotated; a node keeps the highest it has used, so an
//   old offer is not replayed onto it.
// Pure functions and schemas; the agents read and write the channel.
import { sign, verify } from "node:crypto";
import * as z from "zod";
import { idSchema } from "../ids";
import { canonicalBytes, canonicalJson } from "../payload/canonical";
import { fromBase64Url, toBase64Url } from "../payload/encoding";
import { type KeyInput, keyIdOf, loadSigningPrivateKey, loadSigningPublicKey } from "../payload/keys";
import { sealedSecretSchema } from "../payload/schema";
import { SecretOpenError, seal, unseal } from "../payload/seal";

export const JOIN_DOMAIN = "berth/swarm-join/v1";
/** An offer larger than this is not parsed. */
export const MAX_JOIN_OFFER_BYTES = 64 * 1024;

/** The channel key of a node's join offer. */
export function joinOfferKey(group: string, nodeId: string): string {
  return `swarm/${idSchema().parse(group)}/join/${idSchema().parse(nodeId)}.json`;
}

const joinOfferSchema = z
  .object({
    domain: z.literal(JOIN_DOMAIN),
    group: idSchema(),
    nodeId: idSchema(),
    role: z.enum(["manager", "worker"]),
    generation: z.number().int().positive(),
    /** Addresses of the swarm's managers (`host:port`), to join through any of them. */
    managers: z
      .array(z.string().regex(/^[A-Za-z0-9.:[\]-]+:\d{1,5}$/, "host:port"))
      .min(1)
      .max(7),
    issuedAt: z.iso.datetime(),
    expiresAt: z.iso.datetime(),
    token: sealedSecretSchema,
  })
  .strict();

const signedOfferSchema = z
  .object({
    formatVersion: z.literal(1),
    keyId: z.string().regex(/^ed25519:[0-9a-f]{32}$/),
    signature: z.string().min(1),
    offer: z.unknown(),
  })
  .strict();

const tokenName = (role: "manager" | "worker") => `swarm-join-${role}`;

export interface JoinOfferInput {
  group: string;
  nodeId: string;
  role: "manager" | "worker";
  generation: number;
  managers: string[];
  /** The join token of `role` (`docker swarm join-token --quiet ROLE`). */
  token: string;
  /** The node's X25519 public key, as the program pins it. */
  nodePublicKey: KeyInput;
  /** The leader's status key (Ed25519 private). */
  leaderStatusKey: KeyInput;
  now?: Date;
  validitySeconds?: number;
}

/** The offer's text: the token sealed to the node, the whole signed by the leader. */
export function makeJoinOffer(i: JoinOfferInput): string {
  const now = i.now ?? new Date();
  const offer = joinOfferSchema.parse({
    domain: JOIN_DOMAIN,
    group: i.group,
    nodeId: i.nodeId,
    role: i.role,
    generation: i.generation,
    managers: i.managers,
    issuedAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + (i.validitySeconds ?? 7 * 24 * 3600) * 1000).toISOString(),
    token: seal(i.token, i.nodePublicKey, {
      environmentId: i.group,
      nodeId: i.nodeId,
      sequence: i.generation,
      name: tokenName(i.role),
    }),
  });
  const key = loadSigningPrivateKey(i.leaderStatusKey);
  const signature = sign(null, canonicalBytes({ domain: JOIN_DOMAIN, offer }), key);
  return `${canonicalJson({ formatVersion: 1, keyId: keyIdOf(key), signature: toBase64Url(signature), offer })}\n`;
}

export class JoinOfferError extends Error {
  override readonly name = "JoinOfferError";
}

export interface OpenedJoinOffer {
  role: "manager" | "worker";
  generation: number;
  managers: string[];
  token: string;
}

/**
 * Verifies an offer against the leader's pinned status key and what the node expects, and opens
 * its token with the node's private key. Throws JoinOfferError with the reason (never the token).
 */
export function openJoinOffer(
  text: string,
  expect: {
    group: string;
    nodeId: string;
    leaderStatusKey: KeyInput;
    nodePrivateKey: KeyInput;
    /** The highest generation this node has joined with: an offer must not be below it. */
    floor?: number;
    now?: Date;
  },
): OpenedJoinOffer {
  const where = `join offer for ${expect.nodeId} in group ${expect.group}`;
  if (Buffer.byteLength(text, "utf8") > MAX_JOIN_OFFER_BYTES)
    throw new JoinOfferError(`${where}: larger than ${MAX_JOIN_OFFER_BYTES} bytes, not read`);
  let envelope: z.infer<typeof signedOfferSchema>;
  try {
    envelope = signedOfferSchema.parse(JSON.parse(text));
  } catch {
    throw new JoinOfferError(`${where}: not a signed join offer`);
  }
  const key = loadSigningPublicKey(expect.leaderStatusKey);
  if (envelope.keyId !== keyIdOf(key))
    throw new JoinOfferError(
      `${where}: signed by ${envelope.keyId}, not by the leader's key ${keyIdOf(key)}`,
    );
  const signature = fromBase64Url(envelope.signature);
  if (!signature) throw new JoinOfferError(`${where}: malformed signature`);
  if (!verify(null, canonicalBytes({ domain: JOIN_DOMAIN, offer: envelope.offer }), key, signature))
    throw new JoinOfferError(`${where}: the signature does not verify with the leader's key`);
  const parsed = joinOfferSchema.safeParse(envelope.offer);
  if (!parsed.success) throw new JoinOfferError(`${where}: malformed offer`);
  const offer = parsed.data;
  if (offer.group !== expect.group || offer.nodeId !== expect.nodeId)
    throw new JoinOfferError(`${where}: the offer is for ${offer.nodeId} in group ${offer.group}`);
  const now = (expect.now ?? new Date()).getTime();
  if (Date.parse(offer.expiresAt) < now) throw new JoinOfferError(`${where}: expired at ${offer.expiresAt}`);
  if (expect.floor !== undefined && offer.generation < expect.floor)
    throw new JoinOfferError(
      `${where}: generation ${offer.generation} is below ${expect.floor}, which this node has joined with`,
    );
  try {
    const token = unseal(offer.token, expect.nodePrivateKey, {
      environmentId: offer.group,
      nodeId: offer.nodeId,
      sequence: offer.generation,
      name: tokenName(offer.role),
    });
    return { role: offer.role, generation: offer.generation, managers: offer.managers, token };
  } catch (e) {
    if (e instanceof SecretOpenError) throw new JoinOfferError(`${where}: ${e.message}`);
    throw e;
  }
}
