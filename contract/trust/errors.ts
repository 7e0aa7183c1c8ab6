// Why a trust set or an agent bundle was refused; each refusal has its own code. Messages name
// key ids, generations, versions and times; never a private key.

export type TrustErrorCode =
  /** Not JSON, or not the shape of a trust set / bundle manifest of this format. */
  | "MALFORMED"
  /** The node's config names no trust root, so no trust set can be verified. */
  | "NO_TRUST_ROOT"
  /** Fewer valid signatures by current root keys than the current threshold. */
  | "UNTRUSTED_SIGNER"
  /** issuedAt lies further in the future than the allowed clock skew. */
  | "NOT_YET_VALID"
  /** expiresAt (plus the allowed clock skew) has passed. */
  | "EXPIRED"
  /** The generation is not above the node's floor (an older trust set, or another of the same). */
  | "STALE_GENERATION"
  /** A key id the node holds as revoked is missing from the new trust set's revocations. */
  | "REVOCATION_DROPPED"
  /** The trust set trusts a revoked key again. */
  | "REVOKED_KEY"
  /** An agent bundle's signature or hash does not match. */
  | "BAD_BUNDLE"
  /** An agent bundle whose version is not above the running one. */
  | "NOT_NEWER";

export class TrustError extends Error {
  override readonly name = "TrustError";
  constructor(
    readonly code: TrustErrorCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}
