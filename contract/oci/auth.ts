// Registry authentication: per-host credentials, Basic, and the Bearer token flow of the
// distribution spec (401 challenge → GET realm?service=...&scope=... → `token`/`access_token`),
// with tokens cached per realm+service+scope+user until shortly before they expire.
import type { AuthChallenge } from "./challenge";
import { CredentialsRefusedError, RegistryResponseError } from "./errors";
import { displayUrl, send, type TransportOptions } from "./http";
import { credentialKeys } from "./reference";

export interface RegistryCredential {
  username: string;
  /** A password or an access token; never shown in errors or logs. */
  password: string;
}

/** Credentials by registry host as users write it: `{ "ghcr.io": {...}, "localhost:5000": {...} }`. */
export type RegistryCredentials = Readonly<Record<string, RegistryCredential>>;

export function findCredential(
  credentials: RegistryCredentials | undefined,
  registry: string,
): RegistryCredential | undefined {
  if (!credentials) return undefined;
  for (const key of credentialKeys(registry)) {
    const c = credentials[key];
    if (c) return c;
  }
  return undefined;
}

export function basicAuthorization(c: RegistryCredential): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`, "utf8").toString("base64")}`;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

/**
 * What the client learned about registries: the last challenge each host sent (so later
 * requests authenticate up front) and bearer tokens until they expire. One is shared by
 * default; pass your own to isolate callers.
 */
export class AuthCache {
  private readonly challenges = new Map<string, AuthChallenge>();
  private readonly tokens = new Map<string, CachedToken>();

  constructor(private readonly now: () => number = Date.now) {}

  rememberChallenge(host: string, challenge: AuthChallenge): void {
    this.challenges.set(host, challenge);
  }

  challengeFor(host: string): AuthChallenge | undefined {
    return this.challenges.get(host);
  }

  getToken(key: string): string | undefined {
    const t = this.tokens.get(key);
    if (!t) return undefined;
    if (t.expiresAt <= this.now()) {
      this.tokens.delete(key);
      return undefined;
    }
    return t.token;
  }

  putToken(key: string, token: string, expiresInSeconds: number): void {
    const ms = Math.max(0, expiresInSeconds) * 1000;
    // Renew a little early: 10% of the lifetime, at most 10 s.
    this.tokens.set(key, { token, expiresAt: this.now() + ms - Math.min(10_000, ms / 10) });
  }

  dropToken(key: string): void {
    this.tokens.delete(key);
  }

  clear(): void {
    this.challenges.clear();
    this.tokens.clear();
  }
}

export const defaultAuthCache = new AuthCache();

/** The token a registry asks for: default scope when the challenge names none. */
export function tokenScope(challenge: AuthChallenge, repository: string): string {
  return challenge.params.scope ?? `repository:${repository}:pull`;
}

export function tokenCacheKey(
  host: string,
  challenge: AuthChallenge,
  scope: string,
  credential: RegistryCredential | undefined,
): string {
  return [
    host,
    challenge.params.realm ?? "",
    challenge.params.service ?? "",
    scope,
    credential?.username ?? "",
  ].join("\n");
}

function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "[::1]" || hostname === "::1" || /^127\./.test(hostname);
}

export interface TokenRequest {
  cache: AuthCache;
  challenge: AuthChallenge;
  scope: string;
  credential: RegistryCredential | undefined;
  /** The registry's API host, for the cache key and errors. */
  host: string;
  /** The image reference, for errors. */
  reference: string;
  /** True when the registry itself is spoken to over plain HTTP (so its realm may be too). */
  registryIsPlainHttp: boolean;
  transport: TransportOptions;
}

/** A bearer token for the challenge's realm, from the cache or the token endpoint. */
export async function bearerToken(req: TokenRequest): Promise<string> {
  const { challenge, credential } = req;
  const key = tokenCacheKey(req.host, challenge, req.scope, credential);
  const cached = req.cache.getToken(key);
  if (cached) return cached;

  const realm = challenge.params.realm;
  let url: URL;
  try {
    if (!realm) throw new Error("no realm");
    url = new URL(realm);
    if (url.protocol !== "https:" && url.protocol !== "http:") throw new Error("not http(s)");
  } catch {
    throw new RegistryResponseError(
      `${req.host}`,
      401,
      "the registry asked for a bearer token but its challenge has no usable `realm` URL; " +
        "the registry's auth configuration is broken",
    );
  }
  url.username = "";
  url.password = "";
  if (challenge.params.service) url.searchParams.set("service", challenge.params.service);
  for (const s of req.scope.split(" ").filter((x) => x !== "")) url.searchParams.append("scope", s);

  const headers: Record<string, string> = { accept: "application/json" };
  if (credential) {
    if (url.protocol === "http:" && !req.registryIsPlainHttp && !isLoopback(url.hostname)) {
      throw new RegistryResponseError(
        displayUrl(url.toString()),
        undefined,
        "refusing to send credentials to a token endpoint over plain HTTP; the registry must use an https realm",
      );
    }
    headers.authorization = basicAuthorization(credential);
  }
  const res = await send(url.toString(), { method: "GET", headers }, req.transport);
  if (res.status === 401 || res.status === 403) {
    throw new CredentialsRefusedError(
      req.reference,
      req.host,
      credential ? "refused" : "missing",
      `token endpoint ${displayUrl(url.toString())} answered ${res.status}`,
    );
  }
  if (res.status < 200 || res.status >= 300) {
    throw new RegistryResponseError(displayUrl(url.toString()), res.status, "the token endpoint failed");
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(res.body.toString("utf8"));
  } catch {
    throw new RegistryResponseError(
      displayUrl(url.toString()),
      res.status,
      "the token endpoint's answer is not JSON",
    );
  }
  const body = (parsed ?? {}) as { token?: unknown; access_token?: unknown; expires_in?: unknown };
  const token =
    typeof body.token === "string" && body.token !== ""
      ? body.token
      : typeof body.access_token === "string" && body.access_token !== ""
        ? body.access_token
        : undefined;
  if (!token) {
    throw new RegistryResponseError(
      displayUrl(url.toString()),
      res.status,
      "the token endpoint's answer has neither `token` nor `access_token`",
    );
  }
  // The spec's default lifetime is 60 s when expires_in is absent.
  const expiresIn = typeof body.expires_in === "number" && body.expires_in > 0 ? body.expires_in : 60;
  req.cache.putToken(key, token, expiresIn);
  return token;
}
