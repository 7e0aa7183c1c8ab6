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
  return signAndSerialize(payload, signingKey).envelope;
}

/**
 * signRelease and serializeEnvelope in one: the payload's canonical JSON (the rendered Compose
 * text is most of it) is made once, signed, and is the `payload` of the envelope's text, which is
 * what `serializeEnvelope(signRelease(payload, key))` gives (RFC 8785 orders the envelope's keys
 * keyId, payload, signature; both strings are plain ASCII, as JSON.stringify writes them).
 */
export function signAndSerialize(
  payload: ReleasePayload,
  signingKey: KeyInput,
): { envelope: ReleaseEnvelope; text: string } {
  const parsed = releasePayloadSchema.safeParse(payload);
  if (!parsed.success) throw new ReleasePayloadError(formatIssues(parsed.error.issues));
  if (sha256Hex(parsed.data.compose.text) !== parsed.data.compose.sha256) {
    throw new ReleasePayloadError(["compose.sha256: does not match the SHA-256 of compose.text"]);
  }
  const privateKey = loadSigningPrivateKey(signingKey);
  const payloadText = canonicalJson(parsed.data);
  const signature = toBase64Url(sign(null, Buffer.from(payloadText, "utf8"), privateKey));
  const keyId = keyIdOf(privateKey);
  return {
    envelope: { payload: parsed.data, keyId, signature },
    text: `{"keyId":${JSON.stringify(keyId)},"payload":${payloadText},"signature":${JSON.stringify(signature)}}`,
  };
}

/** The envelope as it is published: its canonical JSON text (deterministic, so byte-stable). */
export function serializeEnvelope(envelope: ReleaseEnvelope): string {
  return canonicalJson(envelope);
}
