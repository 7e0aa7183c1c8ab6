// A node's identity document, nodes/<node>/identity.json: its sealing key (X25519, secrets are
// sealed to it) and its status key (Ed25519, it signs the node's statuses), with a MAC by the
// node's enrollment secret. The program gives each node that secret (cloud nodes: in the user
// data; the local node: in its state folder), so whoever can only write the channel cannot make
// an identity the program accepts. The program takes the keys into its state on first contact
// (the node resource's outputs) and seals only to those: a later change is refused at preview
// until an operator accepts it (see docs/ARCHITECTURE.md, "Node identity").
//
//   { "formatVersion": 2, "nodeId", "publicKey", "statusKey", "agentVersion", "publishedAt",
//     "mac": base64url(HMAC-SHA256(enrollmentSecret, canonicalJson({ domain, identity }))) }
//
// `identity` is the document without `mac`; domain "berth/identity/v1".
import { createHmac, timingSafeEqual } from "node:crypto";
import * as z from "zod";
import { canonicalBytes } from "../payload/canonical";
import { fromAnyBase64, fromBase64Url, toBase64Url } from "../payload/encoding";
import { keyIdOf, loadNodePublicKey, loadSigningPublicKey } from "../payload/keys";

export const IDENTITY_DOMAIN = "berth/identity/v1";
export const ENROLLMENT_DOMAIN = "berth/enrollment/v1";
export const IDENTITY_FORMAT = 2;
/** An identity document larger than this is not read. */
export const MAX_IDENTITY_BYTES = 16 * 1024;

export const signedNodeIdentity = z
  .object({
    formatVersion: z.literal(IDENTITY_FORMAT),
    nodeId: z.string(),
    /** X25519 public key (base64url): secrets are sealed to it. */
    publicKey: z.string(),
    /** Ed25519 public key (base64url): the node's statuses are signed with it. */
    statusKey: z.string(),
    agentVersion: z.string(),
    publishedAt: z.string(),
    mac: z.string(),
  })
  .strict();
export type SignedNodeIdentity = z.infer<typeof signedNodeIdentity>;

/** The keys the program pins for a node. */
export interface NodeKeys {
  publicKey: string;
  statusKey: string;
}

export class IdentityError extends Error {
  override readonly name = "IdentityError";
}

function secretBytes(enrollmentSecret: string): Buffer {
  const b = fromAnyBase64(enrollmentSecret);
  if (b === undefined || b.length < 32)
    throw new IdentityError("the enrollment secret (or key) is not 32+ bytes of base64url");
  return b;
}

function macOf(fields: Omit<SignedNodeIdentity, "mac">, enrollmentSecret: string): Buffer {
  return createHmac("sha256", secretBytes(enrollmentSecret))
    .update(canonicalBytes({ domain: IDENTITY_DOMAIN, identity: fields }))
    .digest();
}

/**
 * The enrollment secret of a node, derived from the stack's enrollment key (32+ random bytes,
 * base64url, kept in the state: components/enrollment) by HMAC-SHA256 of the node id: stable
 * across runs and signing-key rotations, so a node's user data does not change, and different per
 * node, so one node's secret says nothing about another's or about the key.
 */
export function enrollmentSecretFor(enrollmentKey: string, nodeId: string): string {
  return toBase64Url(
    createHmac("sha256", secretBytes(enrollmentKey)).update(`${ENROLLMENT_DOMAIN}\n${nodeId}`).digest(),
  );
}

/** The identity document's text (the node's side). */
export function identityDocument(
  fields: Omit<SignedNodeIdentity, "formatVersion" | "mac">,
  enrollmentSecret: string,
): string {
  const body = { formatVersion: IDENTITY_FORMAT as 2, ...fields };
  return `${JSON.stringify({ ...body, mac: toBase64Url(macOf(body, enrollmentSecret)) }, null, 2)}\n`;
}

/**
 * The identity in `text`, checked: the shape, the node it names, both keys load, and the MAC by
 * the node's enrollment secret. Throws IdentityError saying which check failed.
 */
export function verifyIdentity(text: string, nodeId: string, enrollmentSecret: string): SignedNodeIdentity {
  const where = `nodes/${nodeId}/identity.json`;
  if (Buffer.byteLength(text, "utf8") > MAX_IDENTITY_BYTES)
    throw new IdentityError(`${where} is larger than ${MAX_IDENTITY_BYTES} bytes`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new IdentityError(`${where} is not JSON`);
  }
  const r = signedNodeIdentity.safeParse(raw);
  if (!r.success)
    throw new IdentityError(
      `${where} is not a format-${IDENTITY_FORMAT} identity document (an agent older than enrollment, or not written by the node): ${r.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ")}`,
    );
  const id = r.data;
  if (id.nodeId !== nodeId) throw new IdentityError(`${where} names node ${id.nodeId}`);
  try {
    loadNodePublicKey(id.publicKey);
    loadSigningPublicKey(id.statusKey);
  } catch (e) {
    throw new IdentityError(`${where}: ${(e as Error).message}`);
  }
  const { mac, ...fields } = id;
  const given = fromBase64Url(mac);
  const want = macOf(fields, enrollmentSecret);
  if (given === undefined || given.length !== want.length || !timingSafeEqual(given, want))
    throw new IdentityError(
      `${where} does not carry a valid MAC of node ${nodeId}'s enrollment secret: the node did not write it`,
    );
  return id;
}

/** A short description of a node's keys for messages: the status key's id and the sealing key. */
export function describeKeys(k: NodeKeys): string {
  let statusId = k.statusKey;
  try {
    statusId = keyIdOf(k.statusKey);
  } catch {
    // shown as given
  }
  return `status key ${statusId}, sealing key ${k.publicKey}`;
}

/** The id an operator names to accept a node's new keys: the status key's key id. */
export function acceptanceIdOf(k: NodeKeys): string {
  return keyIdOf(k.statusKey);
}
