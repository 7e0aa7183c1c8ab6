// Tag → digest: resolves an image reference to the digest of its manifest (or, for a
// multi-arch image, of its index) with the OCI distribution API.
//
// Hand-written on Node's global fetch rather than taken from npm: of the registry clients there,
// the maintained one (@snyk/docker-registry-v2-client) assumes https, resolves a multi-arch tag to
// one platform's manifest instead of pinning the index, reads its retry count from an
// environment variable, brings needle and three more dependencies, and has no typed errors for
// unknown image / unknown tag / refused credentials; the others (docker-registry-client,
// oci-registry-client) are unmaintained or pull in restify/node-fetch. The protocol needed here
// is small: one HEAD (GET as fallback), the 401 challenge and a token GET.
import { createHash } from "node:crypto";
import {
  type AuthCache,
  basicAuthorization,
  bearerToken,
  defaultAuthCache,
  findCredential,
  type RegistryCredential,
  type RegistryCredentials,
  tokenCacheKey,
  tokenScope,
} from "./auth";
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from "./backoff";
import { type AuthChallenge, parseWwwAuthenticate, selectChallenge } from "./challenge";
import {
  CredentialsRefusedError,
  ImageNotFoundError,
  RegistryResponseError,
  TagNotFoundError,
} from "./errors";
import { displayUrl, type FetchLike, type HttpResult, send, type TransportOptions } from "./http";
import { isIndexMediaType, MANIFEST_ACCEPT } from "./media-types";
import {
  formatReference,
  type ImageReference,
  parseReference,
  pinnedReference,
  registryApiHost,
} from "./reference";

export interface ResolveOptions {
  /** Per-host credentials, keyed by the registry as written in references (`docker.io`, `localhost:5000`). */
  credentials?: RegistryCredentials;
  /** Time limit of one HTTP attempt, body included. Default 30 s. */
  timeoutMs?: number;
  /** Retry policy for 429/5xx/network failures/timeouts. Default: 4 retries, 250 ms doubling to 8 s. */
  retry?: Partial<RetryPolicy>;
  /** Cancels the whole resolution (its reason is rethrown). */
  signal?: AbortSignal;
  /**
   * Registries spoken to over plain HTTP. Loopback registries (`localhost`, `127.x.x.x`, `[::1]`)
   * always are, as Docker does; every other registry is HTTPS unless listed here.
   */
  plainHttp?: readonly string[];
  /** Challenges and tokens learned; defaults to one cache shared by the process. */
  authCache?: AuthCache;
  /** For tests of pure pieces; the real global fetch otherwise. */
  fetch?: FetchLike;
  /** For tests: the jitter source. */
  random?: () => number;
  userAgent?: string;
}

export interface ResolvedDigest {
  /** The normalized reference that was resolved. */
  reference: ImageReference;
  /** `sha256:...` of the manifest, or of the index for a multi-arch image. */
  digest: string;
  /** The manifest's media type as the registry reported it ("" when it did not). */
  mediaType: string;
  /** True when the digest is that of an OCI index or a Docker manifest list. */
  isIndex: boolean;
  /** `registry/repository@digest`. */
  pinned: string;
}

const DIGEST_HEADER = "docker-content-digest";

function isLoopbackRegistry(registry: string): boolean {
  const host = registry.startsWith("[")
    ? registry.slice(0, registry.indexOf("]") + 1)
    : registry.split(":")[0];
  return host === "localhost" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host ?? "");
}

export function registryScheme(registry: string, plainHttp: readonly string[] = []): "http" | "https" {
  return isLoopbackRegistry(registry) || plainHttp.includes(registry) ? "http" : "https";
}

function sha256Digest(body: Buffer): string {
  return `sha256:${createHash("sha256").update(body).digest("hex")}`;
}

function mediaTypeOf(res: HttpResult): string {
  return (res.headers.get("content-type") ?? "").split(";")[0]?.trim() ?? "";
}

/** The `errors[].code` values of a distribution error body (empty when none). */
export function registryErrorCodes(body: Buffer): string[] {
  try {
    const parsed = JSON.parse(body.toString("utf8")) as { errors?: Array<{ code?: unknown }> };
    return (parsed.errors ?? []).map((e) => e.code).filter((c): c is string => typeof c === "string");
  } catch {
    return [];
  }
}

/** One registry repository, spoken to with what the options say. */
class RepositorySession {
  readonly registry: string;
  readonly host: string;
  readonly base: string;
  readonly plain: boolean;
  readonly credential: RegistryCredential | undefined;
  readonly cache: AuthCache;
  readonly transport: TransportOptions;
  readonly headers: Record<string, string>;

  constructor(
    readonly ref: ImageReference,
    readonly display: string,
    options: ResolveOptions,
  ) {
    this.registry = ref.registry;
    this.host = registryApiHost(ref.registry);
    const scheme = registryScheme(ref.registry, options.plainHttp);
    this.plain = scheme === "http";
    this.base = `${scheme}://${this.host}/v2/${ref.repository}`;
    this.credential = findCredential(options.credentials, ref.registry);
    this.cache = options.authCache ?? defaultAuthCache;
    this.transport = {
      fetch: options.fetch ?? ((input, init) => fetch(input, init)),
      timeoutMs: options.timeoutMs ?? 30_000,
      retry: { ...DEFAULT_RETRY_POLICY, ...options.retry },
      signal: options.signal,
      random: options.random,
    };
    this.headers = { "user-agent": options.userAgent ?? "berth-oci-client" };
  }

  /** The Authorization header for a challenge: Basic from the credentials, Bearer from the token endpoint. */
  private async authorizationFor(challenge: AuthChallenge): Promise<string | undefined> {
    if (challenge.scheme === "basic") {
      return this.credential ? basicAuthorization(this.credential) : undefined;
    }
    const token = await bearerToken({
      cache: this.cache,
      challenge,
      scope: tokenScope(challenge, this.ref.repository),
      credential: this.credential,
      host: this.host,
      reference: this.display,
      registryIsPlainHttp: this.plain,
      transport: this.transport,
    });
    return `Bearer ${token}`;
  }

  /** What we can send before any 401, from what this host asked for last time. */
  private preemptiveAuthorization(): { header: string; tokenKey?: string } | undefined {
    const known = this.cache.challengeFor(this.host);
    if (!known) return undefined;
    if (known.scheme === "basic") {
      return this.credential ? { header: basicAuthorization(this.credential) } : undefined;
    }
    // A known bearer realm: reuse a cached token for this repository's pull scope, if any.
    const scope = `repository:${this.ref.repository}:pull`;
    const key = tokenCacheKey(
      this.host,
      { scheme: "bearer", params: { ...known.params, scope } },
      scope,
      this.credential,
    );
    const token = this.cache.getToken(key);
    return token ? { header: `Bearer ${token}`, tokenKey: key } : undefined;
  }

  /** A request under the repository (`/manifests/latest`), answering the 401 challenge once. */
  async request(method: string, path: string, accept?: string): Promise<HttpResult> {
    const url = `${this.base}${path}`;
    const headers: Record<string, string> = { ...this.headers };
    if (accept) headers.accept = accept;
    const pre = this.preemptiveAuthorization();
    let res = await send(
      url,
      { method, headers: pre ? { ...headers, authorization: pre.header } : headers },
      this.transport,
    );
    if (res.status === 401) {
      if (pre?.tokenKey) this.cache.dropToken(pre.tokenKey);
      const challenges = parseWwwAuthenticate(res.headers.get("www-authenticate"));
      const challenge = selectChallenge(challenges);
      if (!challenge) {
        throw new RegistryResponseError(
          displayUrl(url),
          401,
          "the registry wants authentication but sent no Basic or Bearer challenge this client can answer",
        );
      }
      this.cache.rememberChallenge(this.host, challenge);
      const authorization = await this.authorizationFor(challenge);
      if (!authorization) throw new CredentialsRefusedError(this.display, this.registry, "missing");
      res = await send(url, { method, headers: { ...headers, authorization } }, this.transport);
      if (res.status === 401) {
        const again = selectChallenge(parseWwwAuthenticate(res.headers.get("www-authenticate")));
        const detail =
          again?.params.error === "insufficient_scope"
            ? "insufficient scope: no pull access, or the repository does not exist"
            : "";
        throw new CredentialsRefusedError(
          this.display,
          this.registry,
          this.credential ? "refused" : "missing",
          detail,
        );
      }
    }
    if (res.status === 403) throw new CredentialsRefusedError(this.display, this.registry, "forbidden");
    return res;
  }
}

function unexpected(url: string, res: HttpResult, what: string): RegistryResponseError {
  const codes = registryErrorCodes(res.body);
  const detail = codes.length > 0 ? ` (registry error ${codes.join(", ")})` : "";
  const hint =
    res.status >= 500 || res.status === 429
      ? "; the registry is failing or rate-limiting: try again later"
      : "";
  return new RegistryResponseError(displayUrl(url), res.status, `${what}${detail}${hint}`);
}

/**
 * Resolves an image reference to the digest of what it names: `HEAD /v2/NAME/manifests/REF`
 * asking for OCI index/manifest and Docker list/manifest, the Docker-Content-Digest header (or,
 * when absent, a GET and the sha256 of the body). A multi-arch tag resolves to its index's digest.
 * A reference with a digest is checked to exist and resolves to that digest.
 *
 * Throws InvalidReferenceError, ImageNotFoundError, TagNotFoundError, CredentialsRefusedError,
 * RegistryUnreachableError, RegistryTimeoutError or RegistryResponseError.
 */
export async function resolveDigest(
  reference: string | ImageReference,
  options: ResolveOptions = {},
): Promise<ResolvedDigest> {
  const ref = typeof reference === "string" ? parseReference(reference) : reference;
  const display = formatReference(ref);
  const session = new RepositorySession(ref, display, options);
  const target = ref.digest ?? ref.tag ?? "latest";
  const path = `/manifests/${target}`;
  const url = `${session.base}${path}`;

  const done = (digest: string, mediaType: string): ResolvedDigest => {
    if (ref.digest !== undefined && digest !== ref.digest) {
      throw new RegistryResponseError(
        displayUrl(url),
        200,
        `asked for ${ref.digest} but the registry answered with ${digest}; the registry is not trustworthy`,
      );
    }
    return {
      reference: ref,
      digest,
      mediaType,
      isIndex: isIndexMediaType(mediaType),
      pinned: pinnedReference(ref, digest),
    };
  };

  const head = await session.request("HEAD", path, MANIFEST_ACCEPT);
  if (head.status === 200) {
    const digest = head.headers.get(DIGEST_HEADER)?.trim();
    // Only a sha256 header is taken on trust; anything else is recomputed from the body.
    if (digest && /^sha256:[a-f0-9]{64}$/.test(digest)) return done(digest, mediaTypeOf(head));
  }

  // No usable digest header, or an error whose body HEAD cannot carry: ask with GET.
  const get = await session.request("GET", path, MANIFEST_ACCEPT);
  if (get.status === 200) {
    const computed = sha256Digest(get.body);
    const header = get.headers.get(DIGEST_HEADER)?.trim();
    if (header?.startsWith("sha256:") && header !== computed) {
      throw new RegistryResponseError(
        displayUrl(url),
        200,
        `the manifest's bytes hash to ${computed} but the registry says ${header}; the answer was altered`,
      );
    }
    let mediaType = mediaTypeOf(get);
    if (mediaType === "" || mediaType === "application/json") {
      try {
        const m = (JSON.parse(get.body.toString("utf8")) as { mediaType?: unknown }).mediaType;
        if (typeof m === "string") mediaType = m;
      } catch {
        // keep the header's
      }
    }
    return done(computed, mediaType);
  }
  if (get.status === 404) {
    const codes = registryErrorCodes(get.body);
    if (codes.includes("NAME_UNKNOWN")) throw new ImageNotFoundError(display, ref.registry, ref.repository);
    // distribution answers MANIFEST_UNKNOWN for a tag of a repository that does not exist
    // either; its tag list tells the two apart (404 NAME_UNKNOWN when there is no repository).
    const tags = await session.request("GET", "/tags/list?n=1");
    if (tags.status === 404) throw new ImageNotFoundError(display, ref.registry, ref.repository);
    throw new TagNotFoundError(display, target);
  }
  throw unexpected(url, get, `cannot read the manifest of ${display}`);
}
