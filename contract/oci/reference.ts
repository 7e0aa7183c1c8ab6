// Image references: parse and normalize the way Docker does (distribution/reference's grammar),
// so that `nginx`, `docker.io/library/nginx:latest` and `index.docker.io/library/nginx` name the
// same image, and format back to one canonical string.
import { InvalidReferenceError } from "./errors";

/** A normalized image reference. `registry` is the name users write (`docker.io`), not the API host. */
export interface ImageReference {
  /** `docker.io`, `ghcr.io`, `localhost:5000`, `127.0.0.1:5000`, `[::1]:5000`. */
  registry: string;
  /** The repository path inside the registry: `library/nginx`, `berth/web`. */
  repository: string;
  /** Set unless the reference names a digest only. `latest` when neither was given. */
  tag?: string;
  /** `sha256:<64 hex>` (or `sha512:<128 hex>`) when the reference is pinned. */
  digest?: string;
}

export const DOCKER_HUB = "docker.io";
/** The host Docker Hub's registry API answers on. */
export const DOCKER_HUB_API_HOST = "registry-1.docker.io";
export const DEFAULT_TAG = "latest";
const MAX_NAME_LENGTH = 255;

// distribution/reference's grammar, piece by piece.
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN_NAME = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*`;
const IPV6 = "\\[(?:[a-fA-F0-9:]+)\\]";
const DOMAIN_RE = new RegExp(`^(?:${DOMAIN_NAME}|${IPV6})(?::[0-9]+)?$`);
const PATH_COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = new Map<string, RegExp>([
  ["sha256", /^[a-f0-9]{64}$/],
  ["sha512", /^[a-f0-9]{128}$/],
]);

/** Registry names that all mean Docker Hub. */
const DOCKER_HUB_ALIASES = new Set(["docker.io", "index.docker.io", "registry-1.docker.io"]);

function fail(input: string, why: string, hint: string): never {
  throw new InvalidReferenceError(input, why, hint);
}

/** True when the first path component of a reference is a registry host, as Docker decides it. */
function looksLikeDomain(component: string): boolean {
  return (
    component.includes(".") ||
    component.includes(":") ||
    component === "localhost" ||
    component !== component.toLowerCase()
  );
}

export function isValidDigest(digest: string): boolean {
  const colon = digest.indexOf(":");
  if (colon < 0) return false;
  return DIGEST_RE.get(digest.slice(0, colon))?.test(digest.slice(colon + 1)) ?? false;
}

/**
 * Parses an image reference (`nginx`, `nginx:1.27`, `ghcr.io/org/app@sha256:...`,
 * `localhost:5000/x:tag@sha256:...`) into its normalized parts. Throws InvalidReferenceError
 * with what is wrong and how to write it instead.
 */
export function parseReference(input: string): ImageReference {
  if (typeof input !== "string" || input === "") {
    fail(
      String(input),
      "the reference is empty",
      "write an image such as `nginx:1.27` or `ghcr.io/org/app:tag`",
    );
  }
  if (/\s/.test(input)) fail(input, "it contains whitespace", "remove the spaces");
  if (input.includes("://")) {
    fail(input, "a reference has no URL scheme", "drop the `http://` or `https://` prefix");
  }

  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isValidDigest(digest)) {
      fail(
        input,
        `\`${digest}\` is not a valid digest`,
        "a digest is `sha256:` followed by 64 lowercase hex characters",
      );
    }
  }

  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) {
      fail(
        input,
        `\`${tag}\` is not a valid tag`,
        "a tag is 1 to 128 characters of letters, digits, `_`, `.` and `-`, not starting with `.` or `-`",
      );
    }
  }

  if (rest === "") fail(input, "the image name is missing", "write the repository before the tag or digest");
  const parts = rest.split("/");
  let registry = DOCKER_HUB;
  const first = parts[0] ?? "";
  if (parts.length > 1 && looksLikeDomain(first)) {
    registry = first;
    parts.shift();
    if (!DOMAIN_RE.test(registry)) {
      fail(input, `\`${registry}\` is not a valid registry host`, "write it as `host` or `host:port`");
    }
    if (DOCKER_HUB_ALIASES.has(registry.toLowerCase())) registry = DOCKER_HUB;
  }
  for (const part of parts) {
    if (part === "")
      fail(input, "the repository has an empty path component", "remove the doubled or trailing `/`");
    if (!PATH_COMPONENT_RE.test(part)) {
      if (part !== part.toLowerCase() && PATH_COMPONENT_RE.test(part.toLowerCase())) {
        fail(input, "repository names must be lowercase", `write \`${part.toLowerCase()}\``);
      }
      fail(
        input,
        `\`${part}\` is not a valid repository path component`,
        "use lowercase letters and digits, separated by `.`, `_`, `__` or `-`",
      );
    }
  }
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift("library");
  const repository = parts.join("/");
  if (registry.length + 1 + repository.length > MAX_NAME_LENGTH) {
    fail(input, `the name is longer than ${MAX_NAME_LENGTH} characters`, "use a shorter repository name");
  }

  const ref: ImageReference = { registry, repository };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  if (tag === undefined && digest === undefined) ref.tag = DEFAULT_TAG;
  return ref;
}

/** The canonical string of a reference: `docker.io/library/nginx:latest`, `host:5000/x@sha256:...`. */
export function formatReference(ref: ImageReference): string {
  return (
    `${ref.registry}/${ref.repository}` +
    (ref.tag !== undefined ? `:${ref.tag}` : "") +
    (ref.digest !== undefined ? `@${ref.digest}` : "")
  );
}

/** `registry/repository@digest`: the reference a pinned manifest carries. */
export function pinnedReference(ref: ImageReference, digest: string): string {
  return `${ref.registry}/${ref.repository}@${digest}`;
}

/** The host[:port] to send registry API calls to (`registry-1.docker.io` for Docker Hub). */
export function registryApiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API_HOST : registry;
}

/** Host names a credential for `registry` may be stored under, most specific first. */
export function credentialKeys(registry: string): string[] {
  const lower = registry.toLowerCase();
  if (lower === DOCKER_HUB) {
    return ["docker.io", "registry-1.docker.io", "index.docker.io", "https://index.docker.io/v1/"];
  }
  return registry === lower ? [registry] : [registry, lower];
}
