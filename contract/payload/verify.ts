// Verifying a release envelope on a node (or in `berth verify`). Checks, in this order, each
// with its own error code: envelope shape, format version, key id trusted, signature, Compose
// hash, environment, node, validity window, sequence above the applied one.
import { type KeyObject, verify } from "node:crypto";
import { fromBase64Url, sha256Hex } from "./encoding";
import { ReleaseVerificationError } from "./errors";
import { type KeyInput, keyIdOf, loadSigningPublicKey } from "./keys";
import { FORMAT_VERSION, type ReleasePayload, releaseEnvelopeSchema } from "./schema";
import { formatIssues, payloadSigningBytes } from "./sign";

/** Default tolerance between the signer's and the node's clocks. */
export const DEFAULT_MAX_CLOCK_SKEW_SECONDS = 120;

/** A set of trusted Ed25519 public keys, by key id. Several at once, so keys rotate without a gap. */
export class TrustedKeys {
  private readonly byId = new Map<string, KeyObject>();

  constructor(keys: Iterable<KeyInput>) {
    if (typeof keys === "string")
      throw new TypeError("trusted keys: expected a list of keys, got one string");
    for (const input of keys) {
      const key = loadSigningPublicKey(input);
      this.byId.set(keyIdOf(key), key);
    }
  }

  get(keyId: string): KeyObject | undefined {
    return this.byId.get(keyId);
  }

  get ids(): string[] {
    return [...this.byId.keys()].sort();
  }

  get size(): number {
    return this.byId.size;
  }
}

export interface VerifyOptions {
  /** The public keys this node trusts (canonical text, base64, PEM or KeyObject), or a TrustedKeys. */
  trustedKeys: Iterable<KeyInput> | TrustedKeys;
  /** This node's environment id. */
  environmentId: string;
  /** This node's id. */
  nodeId: string;
  /** The sequence number of the release applied on this node; 0 when none has been. */
  appliedSequence: number;
  /**
   * The sequence named by the channel key the envelope was read from (`releases/<seq>.json`):
   * it must equal the signed one, or a signed release copied under a huge number would move the
   * node's floor there.
   */
  keySequence?: number;
  /** The node's current time; defaults to now. */
  now?: Date;
  /** Allowed clock difference on both ends of the validity window; default 120 s. */
  maxClockSkewSeconds?: number;
}

export interface VerifiedRelease {
  payload: ReleasePayload;
  /** The key id of the trusted key that signed it. */
  keyId: string;
}

function fail(code: ConstructorParameters<typeof ReleaseVerificationError>[0], message: string): never {
  throw new ReleaseVerificationError(code, message);
}

function parseInput(envelope: unknown): unknown {
  let text: string;
  if (typeof envelope === "string") text = envelope;
  else if (envelope instanceof Uint8Array) {
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(envelope);
    } catch {
      return fail("MALFORMED_ENVELOPE", "envelope is not UTF-8 text");
    }
  } else return envelope;
  try {
    return JSON.parse(text);
  } catch {
    return fail("MALFORMED_ENVELOPE", "envelope is not JSON");
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Verifies a release envelope (its JSON text, UTF-8 bytes, or parsed value) for this node and
 * returns the payload. Throws ReleaseVerificationError with a code per rejection; a trusted key
 * that cannot be loaded throws KeyError (a configuration error, not a bad release).
 */
export function verifyRelease(envelope: unknown, options: VerifyOptions): VerifiedRelease {
  const trusted =
    options.trustedKeys instanceof TrustedKeys ? options.trustedKeys : new TrustedKeys(options.trustedKeys);
  const input = parseInput(envelope);

  if (!isRecord(input)) fail("MALFORMED_ENVELOPE", "envelope is not a JSON object");
  if (!isRecord(input.payload)) fail("MALFORMED_ENVELOPE", "payload: missing or not an object");
  const version = input.payload.formatVersion;
  if (version !== FORMAT_VERSION) {
    if (version === undefined) fail("MALFORMED_ENVELOPE", "payload.formatVersion: missing");
    fail(
      "UNSUPPORTED_FORMAT_VERSION",
      `payload format version ${JSON.stringify(version)} is not supported (this verifier knows ${FORMAT_VERSION}); update the node agent`,
    );
  }

  const parsed = releaseEnvelopeSchema.safeParse(input);
  if (!parsed.success) fail("MALFORMED_ENVELOPE", formatIssues(parsed.error.issues).slice(0, 5).join("; "));
  const { payload, keyId, signature } = parsed.data;

  const key = trusted.get(keyId);
  if (key === undefined) {
    fail(
      "UNKNOWN_KEY",
      `signed by key ${keyId}, which is not trusted (trusted: ${trusted.ids.join(", ") || "none"})`,
    );
  }
  const signatureBytes = fromBase64Url(signature);
  if (signatureBytes === undefined || !verify(null, payloadSigningBytes(payload), key, signatureBytes)) {
    fail(
      "BAD_SIGNATURE",
      `signature does not verify with trusted key ${keyId}; the release was altered or not signed by it`,
    );
  }

  if (sha256Hex(payload.compose.text) !== payload.compose.sha256) {
    fail("COMPOSE_HASH_MISMATCH", "compose.text does not match compose.sha256");
  }
  if (payload.environmentId !== options.environmentId) {
    fail(
      "WRONG_ENVIRONMENT",
      `release is for environment ${JSON.stringify(payload.environmentId)}, this node is in ${JSON.stringify(options.environmentId)}`,
    );
  }
  if (payload.nodeId !== options.nodeId) {
    fail(
      "WRONG_NODE",
      `release is for node ${JSON.stringify(payload.nodeId)}, this node is ${JSON.stringify(options.nodeId)}`,
    );
  }

  if (options.keySequence !== undefined && payload.sequence !== options.keySequence) {
    fail(
      "SEQUENCE_MISMATCH",
      `the release was read from the key of release ${options.keySequence}, but it is signed as release ${payload.sequence}`,
    );
  }

  const now = (options.now ?? new Date()).getTime();
  const skewMs = (options.maxClockSkewSeconds ?? DEFAULT_MAX_CLOCK_SKEW_SECONDS) * 1000;
  const nowText = new Date(now).toISOString();
  if (Date.parse(payload.issuedAt) > now + skewMs) {
    fail(
      "NOT_YET_VALID",
      `release is issued at ${payload.issuedAt}, in the future (now ${nowText}); check the clocks`,
    );
  }
  if (now > Date.parse(payload.expiresAt) + skewMs) {
    fail("EXPIRED", `release expired at ${payload.expiresAt} (now ${nowText}); publish a fresh release`);
  }

  if (payload.sequence <= options.appliedSequence) {
    fail(
      "STALE_SEQUENCE",
      payload.sequence === options.appliedSequence
        ? `release ${payload.sequence} is already applied (replay)`
        : `release ${payload.sequence} is older than the applied release ${options.appliedSequence} (rollback)`,
    );
  }
  return { payload, keyId };
}
