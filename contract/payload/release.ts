// Building a release payload from its parts: hashes the rendered Compose text and seals the
// secret values to the node's key, so a caller never puts a plain value into a payload.
import { sha256Hex } from "./encoding";
import { ReleasePayloadError } from "./errors";
import type { KeyInput } from "./keys";
import { FORMAT_VERSION, type ReleasePayload, type Route, releasePayloadSchema } from "./schema";
import { sealSecrets } from "./seal";
import { formatIssues } from "./sign";

/** How long a release stays valid when no expiry is given: 7 days. */
export const DEFAULT_VALIDITY_SECONDS = 7 * 24 * 60 * 60;

export interface ReleaseInput {
  environmentId: string;
  nodeId: string;
  sequence: number;
  /** The rendered Compose file for this node. */
  composeText: string;
  routes: readonly Route[];
  /** Secret values by name; sealed to `nodePublicKey`, never stored in plain text. */
  secrets: Readonly<Record<string, string>>;
  /** The target node's X25519 public key. */
  nodePublicKey: KeyInput;
  /** Defaults to now. */
  issuedAt?: Date;
  /** Defaults to issuedAt + DEFAULT_VALIDITY_SECONDS. */
  expiresAt?: Date;
}

/** Builds and validates a format-version-1 payload (ready for signRelease). */
export function createReleasePayload(input: ReleaseInput): ReleasePayload {
  const issuedAt = input.issuedAt ?? new Date();
  const expiresAt = input.expiresAt ?? new Date(issuedAt.getTime() + DEFAULT_VALIDITY_SECONDS * 1000);
  const payload = {
    formatVersion: FORMAT_VERSION,
    environmentId: input.environmentId,
    nodeId: input.nodeId,
    sequence: input.sequence,
    issuedAt: issuedAt.toISOString(),
    expiresAt: expiresAt.toISOString(),
    compose: { sha256: sha256Hex(input.composeText), text: input.composeText },
    routes: input.routes.map((r) => ({ ...r })),
    secrets: [] as ReleasePayload["secrets"],
  };
  // Validate the ids before sealing, so a bad binding is reported as such.
  const early = releasePayloadSchema.safeParse(payload);
  if (!early.success) throw new ReleasePayloadError(formatIssues(early.error.issues));
  payload.secrets = sealSecrets(input.secrets, input.nodePublicKey, {
    environmentId: input.environmentId,
    nodeId: input.nodeId,
    sequence: input.sequence,
  });
  const parsed = releasePayloadSchema.safeParse(payload);
  if (!parsed.success) throw new ReleasePayloadError(formatIssues(parsed.error.issues));
  return parsed.data;
}
