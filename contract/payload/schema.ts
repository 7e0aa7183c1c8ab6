// The release payload (format version 1) and its envelope: zod schemas and their types.
//
// A payload is strict: a verifier of this version rejects any field it does not know. New fields
// come with a new format version; a verifier rejects a version it does not know explicitly
// (UNSUPPORTED_FORMAT_VERSION) before looking at the rest of the payload.
import * as z from "zod";

/** The one format version this module signs and verifies. */
export const FORMAT_VERSION = 1;

/** The sealed-secret algorithm of format version 1 (see seal.ts). */
export const SEAL_ALGORITHM = "X25519-HKDF-SHA256-AES-256-GCM";

const BASE64URL = /^[A-Za-z0-9_-]+$/;
const base64url = (what: string) => z.string().regex(BASE64URL, `${what} must be base64url without padding`);

/** Environment and node ids: letters, digits, `.`, `_`, `-`; start with a letter or digit. */
export const idSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, "must be 1-128 letters, digits, '.', '_' or '-'");

/** An ISO 8601 UTC timestamp with a `Z` suffix, e.g. 2025-01-31T12:00:00.000Z. */
export const utcTimestampSchema = z.iso
  .datetime({ offset: false, local: false })
  .refine((s) => !Number.isNaN(Date.parse(s)), "must be a real date and time");

export const secretNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/, "must be 1-128 letters, digits, '.', '_' or '-'");

export const routeSchema = z.strictObject({
  /** The Compose service that receives the traffic. */
  service: z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/, "must be a Compose service name"),
  /** The container port of that service. */
  port: z.number().int().min(1).max(65535),
  /** The public host name, lowercase; a leading `*.` label is a wildcard. */
  host: z
    .string()
    .max(253)
    .regex(
      /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/,
      "must be a lowercase host name",
    ),
  /** Optional path prefix, starting with `/`. */
  path: z
    .string()
    .regex(/^\/[\x21-\x7e]*$/, "must start with '/' and hold no spaces or control characters")
    .optional(),
});
export type Route = z.infer<typeof routeSchema>;

/** One secret value sealed to the node's X25519 public key (see seal.ts). */
export const sealedSecretSchema = z.strictObject({
  /** The secret's name, as referenced from the Compose file. Not secret. */
  name: secretNameSchema,
  algorithm: z.literal(SEAL_ALGORITHM),
  /** The sender's one-time X25519 public key, raw 32 bytes. */
  ephemeralPublicKey: base64url("ephemeralPublicKey").length(43, "must be 32 bytes in base64url"),
  /** AES-256-GCM ciphertext of the UTF-8 value (same length as the value). */
  ciphertext: z.string().regex(/^[A-Za-z0-9_-]*$/, "must be base64url without padding"),
  /** AES-256-GCM tag, 16 bytes. */
  tag: base64url("tag").length(22, "must be 16 bytes in base64url"),
});
export type SealedSecret = z.infer<typeof sealedSecretSchema>;

export const composeSchema = z.strictObject({
  /** SHA-256 of the UTF-8 text, lowercase hex: the release's content id. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/, "must be 64 lowercase hex digits"),
  /** The rendered Compose file for this node. */
  text: z.string(),
});

export const releasePayloadSchema = z
  .strictObject({
    formatVersion: z.literal(FORMAT_VERSION),
    environmentId: idSchema,
    nodeId: idSchema,
    /** Release sequence number in this environment for this node; a node only moves forward. */
    sequence: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
    issuedAt: utcTimestampSchema,
    expiresAt: utcTimestampSchema,
    compose: composeSchema,
    routes: z.array(routeSchema),
    secrets: z.array(sealedSecretSchema),
  })
  .superRefine((payload, ctx) => {
    if (Date.parse(payload.expiresAt) <= Date.parse(payload.issuedAt)) {
      ctx.addIssue({ code: "custom", path: ["expiresAt"], message: "must be after issuedAt" });
    }
    const seen = new Set<string>();
    payload.secrets.forEach((secret, i) => {
      if (seen.has(secret.name)) {
        ctx.addIssue({
          code: "custom",
          path: ["secrets", i, "name"],
          message: `duplicate secret ${secret.name}`,
        });
      }
      seen.add(secret.name);
    });
  });
export type ReleasePayload = z.infer<typeof releasePayloadSchema>;

/** What travels on the release channel: the payload, the signer's key id and the signature. */
export const releaseEnvelopeSchema = z.strictObject({
  payload: releasePayloadSchema,
  /** `ed25519:` + 32 lowercase hex digits (see keyIdOf). */
  keyId: z.string().regex(/^ed25519:[0-9a-f]{32}$/, "must be ed25519: and 32 lowercase hex digits"),
  /** Ed25519 signature (64 bytes, base64url) over the canonical JSON bytes of `payload`. */
  signature: base64url("signature").length(86, "must be 64 bytes in base64url"),
});
export type ReleaseEnvelope = z.infer<typeof releaseEnvelopeSchema>;
