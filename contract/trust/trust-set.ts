// Signing a trust set (the program, or `berth` with the root keys) and accepting one on a node
// (a pure state transition: the node's current trust state + an envelope → the next state).
//
// The rule (see FORMAT.md, "Trust sets", for why): a trust set is accepted when its generation
// is above the node's floor, a threshold of the node's CURRENT root keys signed it, it is within
// its validity window, it repeats every revocation the node knows, and it trusts no revoked key.
// Release keys never sign trust sets, so a leaked release key cannot keep itself trusted.
import { createHash, sign, verify } from "node:crypto";
import { canonicalBytes } from "../payload/canonical";
import { fromBase64Url, toBase64Url } from "../payload/encoding";
import { type KeyInput, keyIdOf, loadSigningPrivateKey, loadSigningPublicKey } from "../payload/keys";
import { formatIssues } from "../payload/sign";
import { TrustedKeys } from "../payload/verify";
import { TrustError } from "./errors";
import {
  TRUST_SET_DOMAIN,
  type TrustSetEnvelope,
  type TrustSetPayload,
  type TrustState,
  trustSetEnvelopeSchema,
  trustSetPayloadSchema,
} from "./schema";

export const DEFAULT_TRUST_SET_VALIDITY_DAYS = 30;
const DEFAULT_SKEW_SECONDS = 120;

export interface TrustSetInput {
  generation: number;
  roots: string[];
  threshold?: number;
  releaseKeys: string[];
  revoked: string[];
  issuedAt?: Date;
  expiresAt?: Date;
}

/** A trust set payload with keys sorted and de-duplicated (the order in config changes nothing). */
export function createTrustSetPayload(i: TrustSetInput): TrustSetPayload {
  const issuedAt = i.issuedAt ?? new Date();
  const expiresAt =
    i.expiresAt ?? new Date(issuedAt.getTime() + DEFAULT_TRUST_SET_VALIDITY_DAYS * 86_400_000);
  const sorted = (l: string[]) => [...new Set(l)].sort();
  const payload = {
    domain: TRUST_SET_DOMAIN,
    generation: i.generation,
    issuedAt: issuedAt.toISOString(),
    expiresAt: expiresAt.toISOString(),
    roots: { keys: sorted(i.roots), threshold: i.threshold ?? 1 },
    releaseKeys: sorted(i.releaseKeys),
    revoked: sorted(i.revoked),
  };
  const r = trustSetPayloadSchema.safeParse(payload);
  if (!r.success) throw new TrustError("MALFORMED", formatIssues(r.error.issues).join("; "));
  return r.data;
}

/** Signs a trust set with each of the given root private keys. */
export function signTrustSet(payload: TrustSetPayload, rootPrivateKeys: KeyInput[]): TrustSetEnvelope {
  const r = trustSetPayloadSchema.safeParse(payload);
  if (!r.success) throw new TrustError("MALFORMED", formatIssues(r.error.issues).join("; "));
  const bytes = canonicalBytes(r.data);
  const signatures = rootPrivateKeys.map((k) => {
    const key = loadSigningPrivateKey(k);
    return { keyId: keyIdOf(key), signature: toBase64Url(sign(null, bytes, key)) };
  });
  return { payload: r.data, signatures };
}

/** The state of a node that has accepted no trust set: its agent config's keys, generation 0. */
export function initialTrustState(config: { trustRoots: string[]; trustedKeys: string[] }): TrustState {
  const text = (k: string) => toBase64Url(rawOf(k));
  return {
    generation: 0,
    roots: [...new Set(config.trustRoots.map(text))].sort(),
    threshold: 1,
    releaseKeys: [...new Set(config.trustedKeys.map(text))].sort(),
    revoked: [],
  };
}

function rawOf(k: string): Buffer {
  const jwk = loadSigningPublicKey(k).export({ format: "jwk" });
  return Buffer.from(jwk.x as string, "base64url");
}

/** The release keys a node trusts in this state: its release keys minus every revoked one. */
export function trustedReleaseKeys(state: TrustState): TrustedKeys {
  const revoked = new Set(state.revoked);
  return new TrustedKeys(state.releaseKeys.filter((k) => !revoked.has(keyIdOf(k))));
}

export function payloadSha256(payload: TrustSetPayload): string {
  return createHash("sha256").update(canonicalBytes(payload)).digest("hex");
}

function parse(input: unknown): TrustSetEnvelope {
  let value = input;
  if (typeof input === "string") {
    try {
      value = JSON.parse(input);
    } catch {
      throw new TrustError("MALFORMED", "the trust set is not JSON");
    }
  }
  const domain = (value as { payload?: { domain?: unknown } } | null)?.payload?.domain;
  if (domain !== TRUST_SET_DOMAIN)
    throw new TrustError(
      "MALFORMED",
      `payload.domain is ${JSON.stringify(domain)}, not ${TRUST_SET_DOMAIN} (not a trust set, or a newer format: update the node agent)`,
    );
  const r = trustSetEnvelopeSchema.safeParse(value);
  if (!r.success) throw new TrustError("MALFORMED", formatIssues(r.error.issues).slice(0, 5).join("; "));
  return r.data;
}

export interface AcceptOptions {
  now?: Date;
  maxClockSkewSeconds?: number;
}

/**
 * Verifies a trust set against the node's current state and returns the next state, or
 * `undefined` when it is the very trust set the node holds (read again at every poll). Throws
 * TrustError with the reason of a refusal; the current state then stays in force.
 */
export function acceptTrustSet(
  current: TrustState,
  envelope: unknown,
  o: AcceptOptions = {},
): TrustState | undefined {
  const { payload, signatures } = parse(envelope);
  const sha = payloadSha256(payload);
  if (payload.generation === current.generation && sha === current.payloadSha256) return undefined;
  if (current.roots.length === 0)
    throw new TrustError(
      "NO_TRUST_ROOT",
      "this node's config names no trust root (trustRoots), so it cannot verify a trust set; its keys change only with its user data",
    );
  if (payload.generation <= current.generation)
    throw new TrustError(
      "STALE_GENERATION",
      `trust set generation ${payload.generation} is not above this node's floor ${current.generation}${payload.generation === current.generation ? " (another trust set with the same generation)" : " (an older trust set)"}`,
    );

  const revokedNow = new Set(current.revoked);
  const roots = new Map(
    current.roots
      .filter((k) => !revokedNow.has(keyIdOf(k)))
      .map((k) => [keyIdOf(k), loadSigningPublicKey(k)]),
  );
  const bytes = canonicalBytes(payload);
  const valid = new Set<string>();
  for (const s of signatures) {
    const key = roots.get(s.keyId);
    const sig = fromBase64Url(s.signature);
    if (key && sig && verify(null, bytes, key, sig)) valid.add(s.keyId);
  }
  if (valid.size < current.threshold)
    throw new TrustError(
      "UNTRUSTED_SIGNER",
      `trust set generation ${payload.generation} carries ${valid.size} valid signature(s) by this node's root keys (${[...roots.keys()].join(", ") || "none"}); ${current.threshold} needed. Signed by: ${signatures.map((s) => s.keyId).join(", ")}`,
    );

  const now = (o.now ?? new Date()).getTime();
  const skew = (o.maxClockSkewSeconds ?? DEFAULT_SKEW_SECONDS) * 1000;
  if (Date.parse(payload.issuedAt) > now + skew)
    throw new TrustError(
      "NOT_YET_VALID",
      `trust set issued at ${payload.issuedAt}, in the future; check the clocks`,
    );
  if (now > Date.parse(payload.expiresAt) + skew)
    throw new TrustError(
      "EXPIRED",
      `trust set generation ${payload.generation} expired at ${payload.expiresAt}; run \`pulumi up\` to publish a fresh one`,
    );

  const dropped = current.revoked.filter((id) => !payload.revoked.includes(id));
  if (dropped.length > 0)
    throw new TrustError(
      "REVOCATION_DROPPED",
      `trust set generation ${payload.generation} no longer revokes ${dropped.join(", ")}; revocations are final`,
    );
  const revoked = new Set(payload.revoked);
  const back = [...payload.roots.keys, ...payload.releaseKeys].map(keyIdOf).filter((id) => revoked.has(id));
  if (back.length > 0)
    throw new TrustError(
      "REVOKED_KEY",
      `trust set generation ${payload.generation} trusts the revoked key(s) ${back.join(", ")}`,
    );

  return {
    generation: payload.generation,
    roots: payload.roots.keys,
    threshold: payload.roots.threshold,
    releaseKeys: payload.releaseKeys,
    revoked: payload.revoked,
    payloadSha256: sha,
    expiresAt: payload.expiresAt,
    acceptedAt: new Date(now).toISOString(),
  };
}

/**
 * The generation of a trust set text when one of `roots` signed it, else 0: what the program
 * counts on when it finds a trust set in the channel that its own state does not know (a lost
 * state, a second stack on the same channel). Anything not signed by a root is not counted.
 */
export function verifiedGeneration(text: string | undefined, roots: string[]): number {
  if (text === undefined) return 0;
  let env: TrustSetEnvelope;
  try {
    env = parse(text);
  } catch {
    return 0;
  }
  const bytes = canonicalBytes(env.payload);
  const keys = new Map(roots.map((k) => [keyIdOf(k), loadSigningPublicKey(k)]));
  const signed = env.signatures.some((s) => {
    const key = keys.get(s.keyId);
    const sig = fromBase64Url(s.signature);
    return key !== undefined && sig !== undefined && verify(null, bytes, key, sig);
  });
  return signed ? env.payload.generation : 0;
}
