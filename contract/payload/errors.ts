// Typed errors of the release payload. Messages name ids, key ids, paths and times; never a
// secret value or a private key.

/** Why a release envelope was rejected; each rejection has its own code. */
export type VerifyErrorCode =
  /** Not JSON, or not the shape of an envelope / payload of this format version. */
  | "MALFORMED_ENVELOPE"
  /** The payload's formatVersion is not one this verifier knows. */
  | "UNSUPPORTED_FORMAT_VERSION"
  /** The envelope's key id is not among the trusted keys. */
  | "UNKNOWN_KEY"
  /** The signature does not verify with the trusted key of that key id. */
  | "BAD_SIGNATURE"
  /** The rendered Compose text does not match its SHA-256 (a signer bug: it is signed). */
  | "COMPOSE_HASH_MISMATCH"
  /** The payload is for another environment. */
  | "WRONG_ENVIRONMENT"
  /** The payload is for another node. */
  | "WRONG_NODE"
  /** The sequence in the release's channel key is not the signed one. */
  | "SEQUENCE_MISMATCH"
  /** issuedAt lies further in the future than the allowed clock skew. */
  | "NOT_YET_VALID"
  /** expiresAt (plus the allowed clock skew) has passed. */
  | "EXPIRED"
  /** The sequence is not above the applied one: a replay (equal) or a rollback (lower). */
  | "STALE_SEQUENCE";

export class ReleaseVerificationError extends Error {
  override readonly name = "ReleaseVerificationError";
  constructor(
    readonly code: VerifyErrorCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

/** A payload that cannot be signed: it does not match the schema. */
export class ReleasePayloadError extends Error {
  override readonly name = "ReleasePayloadError";
  readonly code = "INVALID_PAYLOAD";
  constructor(readonly problems: readonly string[]) {
    super(`invalid release payload: ${problems.join("; ")}`);
  }
}
