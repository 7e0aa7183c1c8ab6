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

function signingBytes(status: unknown): Buffer {
  return canonicalBytes({ domain: STATUS_DOMAIN, status });
}

/** The status file's text: the status signed with the node's status key. */
export function signStatus(status: EnvironmentStatus, statusPrivateKey: KeyInput): string {
  const parsed = environmentStatus.parse(status);
  const key = loadSigningPrivateKey(statusPrivateKey);
  const signature = sign(null, signingBytes(parsed), key);
  return `${canonicalJson({
    formatVersion: SIGNED_STATUS_FORMAT,
    keyId: keyIdOf(key),
    signature: toBase64Url(signature),
    status: parsed,
  })}\n`;
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
  if (Buffer.byteLength(text, "utf8") > MAX_STATUS_BYTES)
    return { ok: false, reason: `the status is larger than ${MAX_STATUS_BYTES} bytes` };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, reason: "the status is not JSON" };
  }
  const claimedOf = (v: unknown) => {
    const r = environmentStatus.safeParse(v);
    return r.success ? { claimed: r.data } : {};
  };
  const env = signedStatusSchema.safeParse(raw);
  if (!env.success) {
    return {
      ok: false,
      reason:
        "the status is not signed (no status envelope: written by an agent that predates signed statuses, or by someone else)",
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
      reason: `the status is signed by ${env.data.keyId}, not by the node's pinned status key ${keyId}`,
      ...claimed,
    };
  const sig = fromBase64Url(env.data.signature);
  let good = false;
  try {
    good = sig !== undefined && sig.length === 64 && verify(null, signingBytes(env.data.status), key, sig);
  } catch {
    good = false;
  }
  if (!good) return { ok: false, reason: `the status's signature does not verify with ${keyId}`, ...claimed };
  const st = environmentStatus.safeParse(env.data.status);
  if (!st.success) return { ok: false, reason: "the signed status does not match the status schema" };
  if (st.data.nodeId !== expect.nodeId || st.data.environmentId !== expect.environmentId)
    return {
      ok: false,
      reason: `the signed status is about ${st.data.environmentId} on ${st.data.nodeId}, not ${expect.environmentId} on ${expect.nodeId}`,
    };
  return { ok: true, status: st.data };
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
