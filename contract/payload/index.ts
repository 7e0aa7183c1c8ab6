// The release payload contract: one definition of the signed release format, imported by the
// signer (dynamic providers, the `berth` CLI) and the node agent. See FORMAT.md.
export { CanonicalJsonError, canonicalBytes, canonicalJson } from "./canonical";
export { fromAnyBase64, fromBase64Url, sha256Hex, toBase64Url } from "./encoding";
export { ReleasePayloadError, ReleaseVerificationError, type VerifyErrorCode } from "./errors";
export {
  generateNodeKeyPair,
  generateSigningKeyPair,
  KeyError,
  type KeyInput,
  keyIdOf,
  loadNodePrivateKey,
  loadNodePublicKey,
  loadSigningPrivateKey,
  loadSigningPublicKey,
  type NodeKeyPair,
  privateKeyText,
  publicKeyText,
  rawPublicKey,
  type SigningKeyPair,
} from "./keys";
export { createReleasePayload, DEFAULT_VALIDITY_SECONDS, type ReleaseInput } from "./release";
export {
  FORMAT_VERSION,
  type ReleaseEnvelope,
  type ReleasePayload,
  type Route,
  releaseEnvelopeSchema,
  releasePayloadSchema,
  routeSchema,
  SEAL_ALGORITHM,
  type SealedSecret,
  sealedSecretSchema,
} from "./schema";
export {
  type ReleaseBinding,
  SEAL_DOMAIN,
  type SealOptions,
  type SecretBinding,
  SecretOpenError,
  seal,
  sealAssociatedData,
  sealSecrets,
  unseal,
  unsealSecrets,
} from "./seal";
export { payloadSigningBytes, serializeEnvelope, signAndSerialize, signRelease } from "./sign";
export {
  DEFAULT_MAX_CLOCK_SKEW_SECONDS,
  TrustedKeys,
  type VerifiedRelease,
  type VerifyOptions,
  verifyRelease,
} from "./verify";
