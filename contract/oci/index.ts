// OCI distribution client: image references, tag → digest resolution, and its typed errors.
export { AuthCache, defaultAuthCache, type RegistryCredential, type RegistryCredentials } from "./auth";
export { backoffDelay, DEFAULT_RETRY_POLICY, parseRetryAfter, type RetryPolicy, retryDelay } from "./backoff";
export { type AuthChallenge, parseWwwAuthenticate, selectChallenge } from "./challenge";
export { type ResolvedDigest, type ResolveOptions, registryScheme, resolveDigest } from "./client";
export * from "./errors";
export * from "./media-types";
export {
  DEFAULT_TAG,
  DOCKER_HUB,
  DOCKER_HUB_API_HOST,
  formatReference,
  type ImageReference,
  isValidDigest,
  parseReference,
  pinnedReference,
  registryApiHost,
} from "./reference";
