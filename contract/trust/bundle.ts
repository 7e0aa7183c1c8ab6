// The signed manifest of an agent bundle (`agent/berth-agent.json`, beside `agent/berth-agent.js`):
// which version the bundle is and its SHA-256, signed by a release key. A running agent installs
// a bundle only when the manifest verifies with a key of its current trust set, the bundle's
// bytes match the hash, and the version is above the one it runs (never a downgrade).
import { sign, verify } from "node:crypto";
import * as z from "zod";
import { canonicalBytes } from "../payload/canonical";
import { fromBase64Url, sha256Hex, toBase64Url } from "../payload/encoding";
import { type KeyInput, keyIdOf, loadSigningPrivateKey } from "../payload/keys";
import { utcTimestampSchema } from "../payload/schema";
import { formatIssues } from "../payload/sign";
import type { TrustedKeys } from "../payload/verify";
import { TrustError } from "./errors";
import { keyIdSchema } from "./schema";

export const AGENT_BUNDLE_DOMAIN = "berth/agent-bundle/v1";
/** The manifest's channel key beside the bundle's (`agent/berth-agent.js` → `agent/berth-agent.json`). */
export const manifestKeyOf = (bundleKey: string) => bundleKey.replace(/\.js$/, "").concat(".json");

/** MAJOR.MINOR.PATCH, numbers only: what the agent compares. */
export const agentVersionSchema = z
  .string()
  .regex(/^(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})$/, "must be MAJOR.MINOR.PATCH, e.g. 1.4.0");

export const agentBundlePayloadSchema = z.strictObject({
  domain: z.literal(AGENT_BUNDLE_DOMAIN),
  version: agentVersionSchema,
  /** SHA-256 (hex) of the bundle's bytes. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/, "must be 64 lowercase hex digits"),
  bytes: z
    .number()
    .int()
    .positive()
    .max(256 * 1024 * 1024),
  /** The bundle's channel key. */
  key: z.string().min(1),
  issuedAt: utcTimestampSchema,
});
export type AgentBundlePayload = z.infer<typeof agentBundlePayloadSchema>;

export const agentBundleManifestSchema = z.strictObject({
  payload: agentBundlePayloadSchema,
  keyId: keyIdSchema,
  signature: z.string().regex(/^[A-Za-z0-9_-]{86}$/, "must be 64 bytes in base64url"),
});
export type AgentBundleManifest = z.infer<typeof agentBundleManifestSchema>;

/** -1, 0 or 1 as version a is below, equal to or above b. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

export function signAgentBundle(
  bundle: Buffer,
  o: { version: string; key: string; signingKey: KeyInput; issuedAt?: Date },
): AgentBundleManifest {
  const payload = agentBundlePayloadSchema.parse({
    domain: AGENT_BUNDLE_DOMAIN,
    version: o.version,
    sha256: sha256Hex(bundle),
    bytes: bundle.length,
    key: o.key,
    issuedAt: (o.issuedAt ?? new Date()).toISOString(),
  });
  const key = loadSigningPrivateKey(o.signingKey);
  return { payload, keyId: keyIdOf(key), signature: toBase64Url(sign(null, canonicalBytes(payload), key)) };
}

/** Verifies a manifest (text) with the node's trusted release keys; returns its payload. */
export function verifyAgentManifest(text: string, trusted: TrustedKeys): AgentBundlePayload {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new TrustError("MALFORMED", "the agent bundle's manifest is not JSON");
  }
  const r = agentBundleManifestSchema.safeParse(value);
  if (!r.success) throw new TrustError("MALFORMED", formatIssues(r.error.issues).slice(0, 5).join("; "));
  const { payload, keyId, signature } = r.data;
  const key = trusted.get(keyId);
  const sig = fromBase64Url(signature);
  if (!key || !sig || !verify(null, canonicalBytes(payload), key, sig))
    throw new TrustError(
      "BAD_BUNDLE",
      `the manifest of agent ${payload.version} is not signed by a trusted release key (signed by ${keyId}; trusted: ${trusted.ids.join(", ") || "none"})`,
    );
  return payload;
}

/** Checks the downloaded bytes against a verified manifest. */
export function checkBundleBytes(payload: AgentBundlePayload, bundle: Buffer): void {
  if (bundle.length !== payload.bytes || sha256Hex(bundle) !== payload.sha256)
    throw new TrustError(
      "BAD_BUNDLE",
      `the agent bundle ${payload.key} does not match its signed manifest (sha256 ${sha256Hex(bundle).slice(0, 12)}…, signed ${payload.sha256.slice(0, 12)}…)`,
    );
}

/** Refuses a version that is not above the running one and the highest this node ever ran. */
export function checkNewer(payload: AgentBundlePayload, running: string, floor?: string): void {
  const highest = floor && compareVersions(floor, running) > 0 ? floor : running;
  if (compareVersions(payload.version, highest) <= 0)
    throw new TrustError(
      "NOT_NEWER",
      `agent ${payload.version} is not newer than ${highest}${highest === running ? " (running)" : " (the highest this node has run)"}: never a downgrade`,
    );
}
