// Signed statuses: what a node writes to nodes/<node>/status/<env>.json is an envelope its
// status key (Ed25519, made on the node, pinned in the program's state) signs. The program
// believes only a status that verifies against the key its state holds for that node: a channel
// writer can delete or replace the file, but cannot make `pulumi up` see `applied`.
//
//   { "formatVersion": 2, "keyId": "ed25519:<32 hex>", "signature": "<base64url>", "status": {...} }
//
// The signature covers canonicalJson({ domain: "berth/status/v1", status }) (RFC 8785), so a
// signature made for another purpose with the same key never verifies as a status.
import { sign, verify } from "node:crypto";
import * as z from "zod";
import { canonicalBytes, canonicalJson } from "../payload/canonical";
import { fromBase64Url, toBase64Url } from "../payload/encoding";
import { type KeyInput, keyIdOf, loadSigningPrivateKey, loadSigningPublicKey } from "../payload/keys";
import { type EnvironmentStatus, environmentStatus } from "./status";

export const STATUS_DOMAIN = "berth/status/v1";
export const SIGNED_STATUS_FORMAT = 2;
/** A status larger than this is not read (a channel writer's 1 GiB object is not parsed). */
export const MAX_STATUS_BYTES = 1024 * 1024;

const signedStatusSchema = z
  .object({
    formatVersion: z.literal(SIGNED_STATUS_FORMAT),
    keyId: z.string().regex(/^ed25519:[0-9a-f]{32}$/),
    signature: z.string().min(1),
    status: z.unknown(),
  })
  .strict();

function signingBytes(domain: string, status: unknown): Buffer {
  return canonicalBytes({ domain, status });
}

/**
 * A document the node signs with its status key, in the status envelope, under `domain` (so a
 * signature made for one kind of document never verifies as another): the environments'
 * statuses (STATUS_DOMAIN) and the agent's own (contract/trust/agent-status.ts).
 */
export function signNodeDocument(domain: string, document: unknown, statusPrivateKey: KeyInput): string {
  const key = loadSigningPrivateKey(statusPrivateKey);
  const signature = sign(null, signingBytes(domain, document), key);
  return `${canonicalJson({
    formatVersion: SIGNED_STATUS_FORMAT,
    keyId: keyIdOf(key),
    signature: toBase64Url(signature),
    status: document,
  })}\n`;
}

/** The status file's text: the status signed with the node's status key. */
export function signStatus(status: EnvironmentStatus, statusPrivateKey: KeyInput): string {
  return signNodeDocument(STATUS_DOMAIN, environmentStatus.parse(status), statusPrivateKey);
}

export type NodeDocumentCheck<T> = { ok: true; document: T } | { ok: false; reason: string; claimed?: T };

/**
 * Checks a document the node signed (signNodeDocument) against its pinned status key: size, the
 * envelope, the key, the signature under `domain`, then the schema. Never throws on bad input.
 */
export function verifyNodeDocument<T>(
  text: string,
  expect: { domain: string; schema: z.ZodType<T>; statusKey: KeyInput; what: string },
): NodeDocumentCheck<T> {
  const { what } = expect;
  if (Buffer.byteLength(text, "utf8") > MAX_STATUS_BYTES)
    return { ok: false, reason: `the ${what} is larger than ${MAX_STATUS_BYTES} bytes` };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, reason: `the ${what} is not JSON` };
  }
  const claimedOf = (v: unknown) => {
    const r = expect.schema.safeParse(v);
    return r.success ? { claimed: r.data } : {};
  };
  const env = signedStatusSchema.safeParse(raw);
  if (!env.success) {
    return {
      ok: false,
      reason: `the ${what} is not signed (no status envelope: written by an agent that predates signed statuses, or by someone else)`,
      ...claimedOf(raw),
    };
  }
  const claimed = claimedOf(env.data.status);
  let key: ReturnType<typeof loadSigningPublicKey>;
  try {
    key = loadSigningPublicKey(expect.statusKey);
  } catch (e) {
    return { ok: false, reason: `the pinned status key is not usable: ${(e as Error).message}` };
  }
  const keyId = keyIdOf(key);
  if (env.data.keyId !== keyId)
    return {
      ok: false,
      reason: `the ${what} is signed by ${env.data.keyId}, not by the node's pinned status key ${keyId}`,
      ...claimed,
    };
  const sig = fromBase64Url(env.data.signature);
  let good = false;
  try {
    good =
      sig !== undefined &&
      sig.length === 64 &&
      verify(null, signingBytes(expect.domain, env.data.status), key, sig);
  } catch {
    good = false;
  }
  if (!good)
    return { ok: false, reason: `the ${what}'s signature does not verify with ${keyId}`, ...claimed };
  const st = expect.schema.safeParse(env.data.status);
  if (!st.success) return { ok: false, reason: `the signed ${what} does not match its schema` };
  return { ok: true, document: st.data };
}

export type StatusCheck =
  | { ok: true; status: EnvironmentStatus }
  | { ok: false; reason: string; claimed?: EnvironmentStatus };

/**
 * Checks a status file against the node's pinned status key and the node and environment it
 * must be about. Never throws on bad input: a refused status comes back with its reason (and what
 * it claimed, for the operator's eyes only; nothing may act on it).
 */
export function verifyStatus(
  text: string,
  expect: { statusKey: KeyInput; nodeId: string; environmentId: string },
): StatusCheck {
  const r = verifyNodeDocument(text, {
    domain: STATUS_DOMAIN,
    schema: environmentStatus,
    statusKey: expect.statusKey,
    what: "status",
  });
  if (!r.ok) return r;
  const st = r.document;
  if (st.nodeId !== expect.nodeId || st.environmentId !== expect.environmentId)
    return {
      ok: false,
      reason: `the signed status is about ${st.environmentId} on ${st.nodeId}, not ${expect.environmentId} on ${expect.nodeId}`,
    };
  return { ok: true, status: st };
}

/** The status inside a status file, signed or not, without any check: for the agent's own reads. */
export function unverifiedStatus(text: string): EnvironmentStatus | undefined {
  try {
    const raw = JSON.parse(text) as unknown;
    const inner =
      typeof raw === "object" && raw !== null && "status" in raw && "signature" in raw
        ? (raw as { status: unknown }).status
        : raw;
    const r = environmentStatus.safeParse(inner);
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}
