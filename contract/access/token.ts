// Signing an access token (the `berth` CLI, with the operator's private key) and reading one from
// the header it travels in. Verification is authorize.ts.
import { randomBytes, sign } from "node:crypto";
import { canonicalBytes } from "../payload/canonical";
import { fromBase64Url, toBase64Url } from "../payload/encoding";
import { type KeyInput, keyIdOf, loadSigningPrivateKey } from "../payload/keys";
import { formatIssues } from "../payload/sign";
import {
  ACCESS_TOKEN_DOMAIN,
  type AccessAction,
  type AccessTarget,
  type AccessToken,
  accessTokenSchema,
  DEFAULT_TOKEN_LIFETIME_SECONDS,
  MAX_TOKEN_TEXT_BYTES,
} from "./schema";

/** The HTTP header's scheme: `Authorization: Berth-Access <base64url of the token's JSON>`. */
export const AUTH_SCHEME = "Berth-Access";

export interface TokenInput {
  operator: string;
  privateKey: KeyInput;
  node: string;
  target: AccessTarget;
  action: AccessAction;
  request: Record<string, unknown>;
  now?: Date;
  lifetimeSeconds?: number;
  nonce?: string;
}

export function signAccessToken(i: TokenInput): AccessToken {
  const key = loadSigningPrivateKey(i.privateKey);
  const now = i.now ?? new Date();
  const payload = {
    domain: ACCESS_TOKEN_DOMAIN,
    operator: i.operator,
    keyId: keyIdOf(key),
    node: i.node,
    target: i.target,
    action: i.action,
    request: i.request,
    issuedAt: now.toISOString(),
    expiresAt: new Date(
      now.getTime() + (i.lifetimeSeconds ?? DEFAULT_TOKEN_LIFETIME_SECONDS) * 1000,
    ).toISOString(),
    nonce: i.nonce ?? toBase64Url(randomBytes(16)),
  };
  const signature = toBase64Url(sign(null, canonicalBytes(payload), key));
  return { payload: payload as AccessToken["payload"], signature };
}

export function encodeAccessToken(t: AccessToken): string {
  return `${AUTH_SCHEME} ${toBase64Url(Buffer.from(JSON.stringify(t)))}`;
}

export class TokenFormatError extends Error {}

/** Reads a token from an Authorization header value; throws TokenFormatError saying what is wrong. */
export function decodeAccessToken(header: string | undefined): AccessToken {
  if (!header) throw new TokenFormatError(`no Authorization header (expected "${AUTH_SCHEME} <token>")`);
  if (header.length > MAX_TOKEN_TEXT_BYTES)
    throw new TokenFormatError(
      `the token is ${header.length} bytes, above the ${MAX_TOKEN_TEXT_BYTES} the node reads`,
    );
  const [scheme, text, extra] = header.trim().split(/\s+/);
  if (scheme !== AUTH_SCHEME || !text || extra !== undefined)
    throw new TokenFormatError(`the Authorization header is not "${AUTH_SCHEME} <token>"`);
  const bytes = fromBase64Url(text);
  if (!bytes) throw new TokenFormatError("the token is not base64url");
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString("utf8"));
  } catch {
    throw new TokenFormatError("the token is not JSON");
  }
  const r = accessTokenSchema.safeParse(value);
  if (!r.success) throw new TokenFormatError(formatIssues(r.error.issues).slice(0, 5).join("; "));
  return r.data;
}
