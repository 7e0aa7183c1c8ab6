// Signing a release payload: Ed25519 (node:crypto) over the UTF-8 bytes of the payload's RFC 8785
// canonical JSON. The signature covers the whole payload, the rendered Compose text included.
import { sign } from "node:crypto";
import type * as z from "zod";
import { canonicalBytes, canonicalJson } from "./canonical";
import { sha256Hex, toBase64Url } from "./encoding";
import { ReleasePayloadError } from "./errors";
import { type KeyInput, keyIdOf, loadSigningPrivateKey } from "./keys";
import { type ReleaseEnvelope, type ReleasePayload, releasePayloadSchema } from "./schema";

/** `PATH: message` lines for zod issues (paths like `secrets[0].name`). */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((issue) => {
    const path = issue.path
      .map((p, i) => (typeof p === "number" ? `[${p}]` : `${i === 0 ? "" : "."}${String(p)}`))
      .join("");
    return `${path || "(root)"}: ${issue.message}`;
  });
}

/** The bytes a release signature covers: the canonical JSON (RFC 8785) of the payload, UTF-8. */
export function payloadSigningBytes(payload: ReleasePayload): Buffer {
  return canonicalBytes(payload);
}

/**
 * Signs a release payload. Throws ReleasePayloadError when the payload does not match the schema
 * or its Compose text does not match its SHA-256, and KeyError for an unusable signing key.
 */
export function signRelease(payload: ReleasePayload, signingKey: KeyInput): ReleaseEnvelope {
  const parsed = releasePayloadSchema.safeParse(payload);
  if (!parsed.success) throw new ReleasePayloadError(formatIssues(parsed.error.issues));
  if (sha256Hex(parsed.data.compose.text) !== parsed.data.compose.sha256) {
    throw new ReleasePayloadError(["compose.sha256: does not match the SHA-256 of compose.text"]);
  }
  const privateKey = loadSigningPrivateKey(signingKey);
  const signature = sign(null, payloadSigningBytes(parsed.data), privateKey);
  return { payload: parsed.data, keyId: keyIdOf(privateKey), signature: toBase64Url(signature) };
}

/** The envelope as it is published: its canonical JSON text (deterministic, so byte-stable). */
export function serializeEnvelope(envelope: ReleaseEnvelope): string {
  return canonicalJson(envelope);
}
