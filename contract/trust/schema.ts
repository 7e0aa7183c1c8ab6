// The signed trust set (format version 1): which keys a node trusts, published by the program at
// `agent/trust-set.json` of the channel. See contract/payload/FORMAT.md, "Trust sets".
//
// Two roles, never one key in both:
// - root keys sign trust sets (a threshold of them). The node's first roots come from its user
//   data (agent config `trustRoots`); a trust set may name new roots, signed by the current ones.
// - release keys sign releases, agent bundles and workspace declarations.
// Revocations are final: a revoked key id stays in every later trust set and never comes back.
import * as z from "zod";
import { utcTimestampSchema } from "../payload/schema";

/** Separates a trust set's signed bytes from every other signed object of berth. */
export const TRUST_SET_DOMAIN = "berth/trust-set/v1";

/** A public key in canonical text: raw 32 bytes, base64url without padding. */
export const publicKeyTextSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{43}$/, "must be a raw 32-byte Ed25519 public key in base64url (43 characters)");

export const keyIdSchema = z
  .string()
  .regex(/^ed25519:[0-9a-f]{32}$/, "must be ed25519: and 32 lowercase hex digits");

export const trustSetPayloadSchema = z
  .strictObject({
    domain: z.literal(TRUST_SET_DOMAIN),
    /** Grows with every change; a node keeps the highest it accepted and refuses anything older. */
    generation: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
    issuedAt: utcTimestampSchema,
    /** A node refuses a trust set past this time (a fresh node cannot be fed an old one forever). */
    expiresAt: utcTimestampSchema,
    /** The keys that sign the next trust set, and how many of them must. */
    roots: z.strictObject({
      keys: z.array(publicKeyTextSchema).min(1).max(16),
      threshold: z.number().int().min(1).max(16),
    }),
    /** The keys whose signatures on releases, agent bundles and workspaces the node accepts. */
    releaseKeys: z.array(publicKeyTextSchema).min(1).max(64),
    /** Key ids never to trust again (cumulative: every later trust set repeats them). */
    revoked: z.array(keyIdSchema).max(1024),
  })
  .superRefine((p, ctx) => {
    const add = (path: (string | number)[], message: string) =>
      ctx.addIssue({ code: "custom", path, message });
    if (Date.parse(p.expiresAt) <= Date.parse(p.issuedAt)) add(["expiresAt"], "must be after issuedAt");
    if (p.roots.threshold > p.roots.keys.length)
      add(["roots", "threshold"], `is ${p.roots.threshold}, above the ${p.roots.keys.length} root key(s)`);
    const dup = (list: string[], path: string) =>
      list.forEach((k, i) => {
        if (list.indexOf(k) !== i) add([path, i], "is listed twice");
      });
    dup(p.roots.keys, "roots.keys");
    dup(p.releaseKeys, "releaseKeys");
    dup(p.revoked, "revoked");
    p.releaseKeys.forEach((k, i) => {
      if (p.roots.keys.includes(k))
        add(["releaseKeys", i], "is also a root key: a root signs trust sets only, keep the roles apart");
    });
  });
export type TrustSetPayload = z.infer<typeof trustSetPayloadSchema>;

export const trustSignatureSchema = z.strictObject({
  keyId: keyIdSchema,
  /** Ed25519 over the canonical JSON (RFC 8785) of the payload, base64url. */
  signature: z.string().regex(/^[A-Za-z0-9_-]{86}$/, "must be 64 bytes in base64url"),
});

export const trustSetEnvelopeSchema = z.strictObject({
  payload: trustSetPayloadSchema,
  signatures: z.array(trustSignatureSchema).min(1).max(16),
});
export type TrustSetEnvelope = z.infer<typeof trustSetEnvelopeSchema>;

/**
 * What a node keeps (its floor and its keys), in `<stateRoot>/trust/state.json`. Generation 0 is
 * the state from the agent config alone, before any trust set was accepted.
 */
export const trustStateSchema = z.strictObject({
  generation: z.number().int().nonnegative(),
  roots: z.array(publicKeyTextSchema),
  threshold: z.number().int().min(1),
  releaseKeys: z.array(publicKeyTextSchema),
  revoked: z.array(keyIdSchema),
  /** SHA-256 (hex) of the accepted trust set's canonical payload: the same one again is no change. */
  payloadSha256: z.string().optional(),
  expiresAt: z.string().optional(),
  acceptedAt: z.string().optional(),
});
export type TrustState = z.infer<typeof trustStateSchema>;
