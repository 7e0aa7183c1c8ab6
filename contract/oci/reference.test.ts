import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InvalidReferenceError } from "./errors";
import {
  credentialKeys,
  formatReference,
  type ImageReference,
  parseReference,
  registryApiHost,
} from "./reference";

const D = `sha256:${"a".repeat(64)}`;

describe("parseReference", () => {
  it.each([
    ["nginx", "docker.io/library/nginx:latest"],
    ["nginx:1.27", "docker.io/library/nginx:1.27"],
    ["library/nginx", "docker.io/library/nginx:latest"],
    ["docker.io/nginx", "docker.io/library/nginx:latest"],
    ["index.docker.io/library/nginx:1", "docker.io/library/nginx:1"],
    ["registry-1.docker.io/bitnami/redis:7", "docker.io/bitnami/redis:7"],
    ["bitnami/redis", "docker.io/bitnami/redis:latest"],
    ["localhost/x", "localhost/x:latest"],
    ["localhost:5000/x", "localhost:5000/x:latest"],
    ["127.0.0.1:5000/berth/web:v1", "127.0.0.1:5000/berth/web:v1"],
    ["host.example:8443/ns/sub/repo:tag", "host.example:8443/ns/sub/repo:tag"],
    ["[::1]:5000/x:y", "[::1]:5000/x:y"],
    ["ghcr.io/org/app@" + D, "ghcr.io/org/app@" + D],
    ["nginx@" + D, "docker.io/library/nginx@" + D],
    ["nginx:1.27@" + D, "docker.io/library/nginx:1.27@" + D],
    ["a__b/c-d.e_f:T_1.x-y", "docker.io/a__b/c-d.e_f:T_1.x-y"],
    ["Registry.Example/x", "Registry.Example/x:latest"],
  ])("%s → %s", (input, canonical) => {
    expect(formatReference(parseReference(input))).toBe(canonical);
  });

  it("keeps parts apart", () => {
    expect(parseReference("localhost:5000/ns/x:t@" + D)).toEqual({
      registry: "localhost:5000",
      repository: "ns/x",
      tag: "t",
      digest: D,
    });
    // A digest alone adds no tag.
    expect(parseReference("x@" + D)).toEqual({ registry: "docker.io", repository: "library/x", digest: D });
  });

  it.each([
    ["", /empty/],
    [" nginx", /whitespace/],
    ["https://ghcr.io/x", /scheme/],
    ["Nginx", /must be lowercase.*`nginx`/],
    ["docker.io/Library/nginx", /must be lowercase/],
    ["nginx:", /not a valid tag/],
    ["nginx:-x", /not a valid tag/],
    [`nginx:${"a".repeat(129)}`, /not a valid tag/],
    ["nginx@sha256:abc", /not a valid digest/],
    [`nginx@md5:${"a".repeat(32)}`, /not a valid digest/],
    [`nginx@sha256:${"A".repeat(64)}`, /not a valid digest/],
    ["ns//x", /empty path component/],
    ["x/", /empty path component/],
    [":tag", /name is missing/],
    ["-bad.host:5000/x", /not a valid registry host/],
    ["a/b_-c", /not a valid repository path component/],
    ["x/.y", /not a valid repository path component/],
    [`host.example/${"a".repeat(250)}`, /longer than 255/],
  ])("rejects %j", (input, message) => {
    let caught: unknown;
    try {
      parseReference(input);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(InvalidReferenceError);
    expect((caught as InvalidReferenceError).code).toBe("OCI_INVALID_REFERENCE");
    expect((caught as Error).message).toMatch(message);
  });

  it("names Docker Hub's API host and credential keys", () => {
    expect(registryApiHost("docker.io")).toBe("registry-1.docker.io");
    expect(registryApiHost("localhost:5000")).toBe("localhost:5000");
    expect(credentialKeys("docker.io")).toContain("https://index.docker.io/v1/");
  });
});

// Generators for canonical (already normalized) references.
const alnum = fc.string({
  unit: fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz0123456789"),
  minLength: 1,
  maxLength: 6,
});
const separator = fc.constantFrom(".", "_", "__", "-", "--");
const pathComponent = fc
  .tuple(alnum, fc.array(fc.tuple(separator, alnum), { maxLength: 2 }))
  .map(([head, rest]) => head + rest.map(([s, a]) => s + a).join(""));
const domainComponent = fc
  .string({ unit: fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz0123456789-"), minLength: 1, maxLength: 8 })
  .filter((s) => !s.startsWith("-") && !s.endsWith("-"));
const port = fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined });
const registry = fc.oneof(
  fc
    .tuple(fc.array(domainComponent, { minLength: 2, maxLength: 3 }), port)
    .map(([parts, p]) => parts.join(".") + (p ? `:${p}` : "")),
  fc.tuple(domainComponent, fc.integer({ min: 1, max: 65535 })).map(([h, p]) => `${h}:${p}`),
  port.map((p) => "localhost" + (p ? `:${p}` : "")),
  fc.constant("[::1]:5000"),
  fc.constant("docker.io"),
);
const tag = fc
  .tuple(
    fc.constantFrom(..."abcXYZ019_"),
    fc.string({ unit: fc.constantFrom(..."abcXYZ019_.-"), maxLength: 20 }),
  )
  .map(([a, b]) => a + b);
const digest = fc.oneof(
  fc
    .string({ unit: fc.constantFrom(..."0123456789abcdef"), minLength: 64, maxLength: 64 })
    .map((h) => `sha256:${h}`),
  fc
    .string({ unit: fc.constantFrom(..."0123456789abcdef"), minLength: 128, maxLength: 128 })
    .map((h) => `sha512:${h}`),
);
const canonical: fc.Arbitrary<ImageReference> = fc
  .record({
    registry,
    path: fc.array(pathComponent, { minLength: 1, maxLength: 4 }),
    tag: fc.option(tag, { nil: undefined }),
    digest: fc.option(digest, { nil: undefined }),
  })
  .filter((r) => !(r.registry === "docker.io" && r.path.length < 2))
  .map((r) => {
    const ref: ImageReference = { registry: r.registry, repository: r.path.join("/") };
    if (r.tag !== undefined) ref.tag = r.tag;
    if (r.digest !== undefined) ref.digest = r.digest;
    if (r.tag === undefined && r.digest === undefined) ref.tag = "latest";
    return ref;
  })
  .filter((r) => r.registry.length + 1 + r.repository.length <= 255);

describe("reference properties", () => {
  it("format(parse(x)) === x for canonical references, and parse(format(r)) equals r", () => {
    fc.assert(
      fc.property(canonical, (ref) => {
        const text = formatReference(ref);
        expect(parseReference(text)).toEqual(ref);
        expect(formatReference(parseReference(text))).toBe(text);
      }),
      { numRuns: 500 },
    );
  });

  it("parsing is idempotent on the short forms users write", () => {
    const familiar = fc
      .record({
        path: fc.array(pathComponent, { minLength: 1, maxLength: 2 }),
        tag: fc.option(tag, { nil: undefined }),
        digest: fc.option(digest, { nil: undefined }),
      })
      .map((r) => r.path.join("/") + (r.tag ? `:${r.tag}` : "") + (r.digest ? `@${r.digest}` : ""))
      // a first component with a dot is a registry host, not a Docker Hub path
      .filter((s) => !s.split("/")[0]!.includes(".") || !s.includes("/"));
    fc.assert(
      fc.property(familiar, (text) => {
        const once = parseReference(text);
        expect(once.registry).toBe("docker.io");
        expect(parseReference(formatReference(once))).toEqual(once);
      }),
      { numRuns: 300 },
    );
  });

  it("never throws anything but InvalidReferenceError on arbitrary input", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (s) => {
        try {
          parseReference(s);
        } catch (e) {
          expect(e).toBeInstanceOf(InvalidReferenceError);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
