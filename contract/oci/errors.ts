// Typed errors of the OCI distribution client. Each has its own class and a stable `code`, and
// a message that says what went wrong and what to do. None ever carries a password or a token.

export type OciErrorCode =
  | "OCI_INVALID_REFERENCE"
  | "OCI_IMAGE_NOT_FOUND"
  | "OCI_TAG_NOT_FOUND"
  | "OCI_CREDENTIALS_REFUSED"
  | "OCI_REGISTRY_UNREACHABLE"
  | "OCI_TIMEOUT"
  | "OCI_REGISTRY_ERROR";

export abstract class OciError extends Error {
  abstract readonly code: OciErrorCode;
}

export class InvalidReferenceError extends OciError {
  readonly code = "OCI_INVALID_REFERENCE";
  constructor(
    readonly input: string,
    readonly reason: string,
    readonly hint: string,
  ) {
    super(`invalid image reference \`${input}\`: ${reason}; ${hint}`);
    this.name = "InvalidReferenceError";
  }
}

/** The repository does not exist in the registry (404 NAME_UNKNOWN). */
export class ImageNotFoundError extends OciError {
  readonly code = "OCI_IMAGE_NOT_FOUND";
  constructor(
    readonly reference: string,
    readonly registry: string,
    readonly repository: string,
  ) {
    super(
      `image ${reference}: the registry ${registry} has no repository \`${repository}\`; ` +
        "check the image name for typos, or push the image first",
    );
    this.name = "ImageNotFoundError";
  }
}

/** The repository exists but has no such tag, or no manifest with that digest (404 MANIFEST_UNKNOWN). */
export class TagNotFoundError extends OciError {
  readonly code = "OCI_TAG_NOT_FOUND";
  constructor(
    readonly reference: string,
    /** The tag or digest that is unknown. */
    readonly manifest: string,
  ) {
    const what = manifest.includes(":") ? `no manifest with digest ${manifest}` : `no tag \`${manifest}\``;
    super(
      `image ${reference}: the repository exists but has ${what}; ` +
        "check the tag (list them with GET /v2/NAME/tags/list), or push it first",
    );
    this.name = "TagNotFoundError";
  }
}

export type CredentialsProblem = "missing" | "refused" | "forbidden";

/** The registry (or its token service) wants credentials that were not given, or refuses them. */
export class CredentialsRefusedError extends OciError {
  readonly code = "OCI_CREDENTIALS_REFUSED";
  constructor(
    readonly reference: string,
    readonly host: string,
    readonly problem: CredentialsProblem,
    detail = "",
  ) {
    const what =
      problem === "missing"
        ? `the registry ${host} requires credentials and none are configured for it; ` +
          `add { "${host}": { username, password } } to the registry credentials`
        : problem === "refused"
          ? `the registry ${host} refused the configured credentials; ` +
            "check the username and password (or token) for this host, and that they may pull this repository"
          : `the registry ${host} denied access (403); ` +
            "the credentials are valid but may not pull this repository: grant pull access";
    super(`image ${reference}: ${what}${detail ? ` (${detail})` : ""}`);
    this.name = "CredentialsRefusedError";
  }
}

/** No connection could be made (DNS, refused, reset), after the retries. */
export class RegistryUnreachableError extends OciError {
  readonly code = "OCI_REGISTRY_UNREACHABLE";
  constructor(
    readonly url: string,
    readonly attempts: number,
    readonly detail: string,
  ) {
    super(
      `cannot reach ${url} (${detail}) after ${attempts} attempt(s); ` +
        "check the registry host and port, that it is running, and the network between",
    );
    this.name = "RegistryUnreachableError";
  }
}

/** The registry did not answer within the time allowed, after the retries. */
export class RegistryTimeoutError extends OciError {
  readonly code = "OCI_TIMEOUT";
  constructor(
    readonly url: string,
    readonly attempts: number,
    readonly timeoutMs: number,
  ) {
    super(
      `${url} did not answer within ${timeoutMs} ms (${attempts} attempt(s)); ` +
        "the registry is overloaded or hangs: try again later, or raise the timeout",
    );
    this.name = "RegistryTimeoutError";
  }
}

/** Any other answer the client cannot use: 5xx or 429 after the retries, an unexpected status, a bad body. */
export class RegistryResponseError extends OciError {
  readonly code = "OCI_REGISTRY_ERROR";
  constructor(
    readonly url: string,
    readonly status: number | undefined,
    detail: string,
  ) {
    super(`${url}: ${status !== undefined ? `HTTP ${status}: ` : ""}${detail}`);
    this.name = "RegistryResponseError";
  }
}
