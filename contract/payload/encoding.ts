// Byte encodings used by the release payload: base64url without padding for every binary field
// (keys, signatures, sealed boxes), lowercase hex for SHA-256 digests and key ids.
import { createHash } from "node:crypto";

const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** Encodes bytes as base64url without padding (RFC 4648 §5). */
export function toBase64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64url");
}

/**
 * Decodes base64url without padding, strictly: the text must be the one canonical encoding of
 * its bytes (Buffer's decoder silently ignores stray characters and unused trailing bits, so two
 * texts could otherwise name the same bytes). Returns undefined for anything else.
 */
export function fromBase64Url(text: string): Buffer | undefined {
  if (!BASE64URL.test(text) || text.length % 4 === 1) return undefined;
  const bytes = Buffer.from(text, "base64url");
  return bytes.toString("base64url") === text ? bytes : undefined;
}

/** Decodes standard base64 or base64url, with or without padding; undefined when not base64. */
export function fromAnyBase64(text: string): Buffer | undefined {
  const trimmed = text.trim().replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
  return fromBase64Url(trimmed);
}

/** SHA-256 of bytes or of a string's UTF-8 encoding, as 64 lowercase hex digits. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}
