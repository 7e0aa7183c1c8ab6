// A signed withdrawal: the only thing that makes a node tear an environment down. The program
// signs it with the release signing key when it deletes the environment, and publishes it at
// nodes/<node>/environments/<env>/withdrawal.json (before it removes desired.json). A node acts
// on it only when it verifies with a trusted key, names this node and environment, and its
// sequence lies above every release and withdrawal the node has seen; a missing desired.json
// alone is an anomaly the node reports, never a teardown.
//
//   { "formatVersion": 1, "keyId": "ed25519:<32 hex>", "signature": "<base64url>",
//     "withdrawal": { "environmentId", "nodeId", "sequence", "issuedAt" } }
//
// The signature covers canonicalJson({ domain: "berth/withdrawal/v1", withdrawal }) (RFC 8785):
// a release's signature (over its bare payload) never verifies as a withdrawal, nor the reverse.
import { sign, verify } from "node:crypto";
import * as z from "zod";
import { idSchema } from "../ids";
import { canonicalBytes, canonicalJson } from "../payload/canonical";
import { fromBase64Url, toBase64Url } from "../payload/encoding";
import { type KeyInput, keyIdOf, loadSigningPrivateKey } from "../payload/keys";
import { formatIssues } from "../payload/sign";
import type { TrustedKeys } from "../payload/verify";

export const WITHDRAWAL_DOMAIN = "berth/withdrawal/v1";
/** A withdrawal larger than this is not read. */
export const MAX_WITHDRAWAL_BYTES = 16 * 1024;

export const withdrawalSchema = z.strictObject({
  environmentId: idSchema(),
  nodeId: idSchema(),
  /** Above every release of the environment for this node: the program's next sequence. */
  sequence: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  issuedAt: z.iso.datetime(),
});
export type Withdrawal = z.infer<typeof withdrawalSchema>;

const envelopeSchema = z.strictObject({
  formatVersion: z.literal(1),
  keyId: z.string().regex(/^ed25519:[0-9a-f]{32}$/),
  signature: z.string().min(1),
  withdrawal: z.unknown(),
});

function signingBytes(withdrawal: unknown): Buffer {
  return canonicalBytes({ domain: WITHDRAWAL_DOMAIN, withdrawal });
}

/** The withdrawal file's text, signed with the release signing key. */
export function signWithdrawal(w: Withdrawal, signingPrivateKey: KeyInput): string {
  const parsed = withdrawalSchema.parse(w);
  const key = loadSigningPrivateKey(signingPrivateKey);
  return `${canonicalJson({
    formatVersion: 1,
    keyId: keyIdOf(key),
    signature: toBase64Url(sign(null, signingBytes(parsed), key)),
    withdrawal: parsed,
  })}\n`;
}

export type WithdrawalCheck = { ok: true; withdrawal: Withdrawal } | { ok: false; reason: string };

/** Checks a withdrawal file for this node and environment. Never throws: a refusal has its reason. */
export function verifyWithdrawal(
  text: string,
  expect: { trustedKeys: TrustedKeys; nodeId: string; environmentId: string },
): WithdrawalCheck {
  if (Buffer.byteLength(text, "utf8") > MAX_WITHDRAWAL_BYTES)
    return { ok: false, reason: `the withdrawal is larger than ${MAX_WITHDRAWAL_BYTES} bytes` };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, reason: "the withdrawal is not JSON" };
  }
  const env = envelopeSchema.safeParse(raw);
  if (!env.success)
    return {
      ok: false,
      reason: `not a signed withdrawal: ${formatIssues(env.error.issues).slice(0, 3).join("; ")}`,
    };
  const key = expect.trustedKeys.get(env.data.keyId);
  if (!key)
    return {
      ok: false,
      reason: `signed by key ${env.data.keyId}, which is not trusted (trusted: ${expect.trustedKeys.ids.join(", ") || "none"})`,
    };
  const sig = fromBase64Url(env.data.signature);
  let good = false;
  try {
    good =
      sig !== undefined && sig.length === 64 && verify(null, signingBytes(env.data.withdrawal), key, sig);
  } catch {
    good = false;
  }
  if (!good) return { ok: false, reason: `the signature does not verify with trusted key ${env.data.keyId}` };
  const w = withdrawalSchema.safeParse(env.data.withdrawal);
  if (!w.success)
    return {
      ok: false,
      reason: `the signed withdrawal: ${formatIssues(w.error.issues).slice(0, 3).join("; ")}`,
    };
  if (w.data.nodeId !== expect.nodeId || w.data.environmentId !== expect.environmentId)
    return {
      ok: false,
      reason: `the withdrawal is for ${w.data.environmentId} on ${w.data.nodeId}, not ${expect.environmentId} on ${expect.nodeId}`,
    };
  return { ok: true, withdrawal: w.data };
}
