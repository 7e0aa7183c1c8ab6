// The OCI distribution client against real registries: the machine's docker-registry
// (distribution 2.8, htpasswd auth) for Basic, and a second docker-registry started here with
// `auth: token` that trusts a self-signed certificate, whose token endpoint is a node server in
// this test issuing RS256 JWTs (x5c header) — the real Bearer flow. Content is pushed through the
// registry HTTP API (no Docker engine involved) under repositories unique to this run.
import { type ChildProcess, spawn } from "node:child_process";
import { createHash, createPrivateKey, randomBytes, sign } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AuthCache,
  CredentialsRefusedError,
  DOCKER_MANIFEST,
  ImageNotFoundError,
  OCI_INDEX,
  OCI_MANIFEST,
  RegistryResponseError,
  type ResolveOptions,
  resolveDigest,
  TagNotFoundError,
} from "../../contract/oci";
import { run } from "../../lib/process";

const REGISTRY = process.env.BERTH_REGISTRY_ADDR ?? "127.0.0.1:5000";
const USER = process.env.BERTH_REGISTRY_USER ?? "";
const PASSWORD = process.env.BERTH_REGISTRY_PASSWORD ?? "";
const RUN_ID = `${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`;

const sha256 = (b: Buffer | string) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString("base64")}`;

// ---------------------------------------------------------------------------------------------
// Pushing content through the registry API.

async function pushBlob(registry: string, repo: string, auth: string, data: Buffer): Promise<string> {
  const digest = sha256(data);
  const start = await fetch(`http://${registry}/v2/${repo}/blobs/uploads/`, {
    method: "POST",
    headers: { authorization: auth, "content-length": "0" },
  });
  if (start.status !== 202) throw new Error(`blob upload start: ${start.status} ${await start.text()}`);
  const location = new URL(start.headers.get("location") ?? "", `http://${registry}`);
  location.searchParams.set("digest", digest);
  const put = await fetch(location, {
    method: "PUT",
    headers: { authorization: auth, "content-type": "application/octet-stream" },
    body: data,
  });
  if (put.status !== 201) throw new Error(`blob upload: ${put.status} ${await put.text()}`);
  return digest;
}

async function pushManifest(
  registry: string,
  repo: string,
  auth: string,
  ref: string,
  mediaType: string,
  body: Buffer,
): Promise<string> {
  const res = await fetch(`http://${registry}/v2/${repo}/manifests/${ref}`, {
    method: "PUT",
    headers: { authorization: auth, "content-type": mediaType },
    body,
  });
  if (res.status !== 201) throw new Error(`manifest ${ref}: ${res.status} ${await res.text()}`);
  return sha256(body);
}

interface PushedImage {
  manifest: Buffer;
  digest: string;
  size: number;
}

/** A tiny single-platform image: a config blob, a layer blob and a manifest, tagged `tag` (or by digest). */
async function pushImage(
  registry: string,
  repo: string,
  auth: string,
  tag: string | undefined,
  opts: { architecture?: string; docker?: boolean } = {},
): Promise<PushedImage> {
  const layer = gzipSync(Buffer.from(`berth test layer ${repo} ${opts.architecture ?? "amd64"} ${RUN_ID}\n`));
  const config = Buffer.from(
    JSON.stringify({
      architecture: opts.architecture ?? "amd64",
      os: "linux",
      rootfs: { type: "layers", diff_ids: [sha256(randomBytes(8))] },
      config: {},
    }),
  );
  const configDigest = await pushBlob(registry, repo, auth, config);
  const layerDigest = await pushBlob(registry, repo, auth, layer);
  const mediaType = opts.docker ? DOCKER_MANIFEST : OCI_MANIFEST;
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      config: {
        mediaType: opts.docker
          ? "application/vnd.docker.container.image.v1+json"
          : "application/vnd.oci.image.config.v1+json",
        digest: configDigest,
        size: config.length,
      },
      layers: [
        {
          mediaType: opts.docker
            ? "application/vnd.docker.image.rootfs.diff.tar.gzip"
            : "application/vnd.oci.image.layer.v1.tar+gzip",
          digest: layerDigest,
          size: layer.length,
        },
      ],
    }),
  );
  const digest = sha256(manifest);
  await pushManifest(registry, repo, auth, tag ?? digest, mediaType, manifest);
  return { manifest, digest, size: manifest.length };
}

/** Two platform manifests and an OCI index over them, tagged `tag`. Returns the index's bytes. */
async function pushMultiArch(registry: string, repo: string, auth: string, tag: string): Promise<Buffer> {
  const amd64 = await pushImage(registry, repo, auth, undefined, { architecture: "amd64" });
  const arm64 = await pushImage(registry, repo, auth, undefined, { architecture: "arm64" });
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        {
          mediaType: OCI_MANIFEST,
          digest: amd64.digest,
          size: amd64.size,
          platform: { architecture: "amd64", os: "linux" },
        },
        {
          mediaType: OCI_MANIFEST,
          digest: arm64.digest,
          size: arm64.size,
          platform: { architecture: "arm64", os: "linux" },
        },
      ],
    }),
  );
  await pushManifest(registry, repo, auth, tag, OCI_INDEX, index);
  return index;
}

// ---------------------------------------------------------------------------------------------
// Small servers.

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function listen(server: http.Server | net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port));
  });
}

function close(server: http.Server | net.Server | undefined): Promise<void> {
  if (!server) return Promise.resolve();
  if (server instanceof http.Server) server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

async function expectError<T extends Error>(
  p: Promise<unknown>,
  cls: new (...args: never[]) => T,
): Promise<T> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(cls);
  return err as T;
}

const fastRetry = { retries: 3, baseMs: 5, maxMs: 20 };

// ---------------------------------------------------------------------------------------------

describe("resolveDigest against the local registry (htpasswd, Basic)", () => {
  const repo = `berth-test/oci-${RUN_ID}`;
  const auth = basic(USER, PASSWORD);
  const credentials = { [REGISTRY]: { username: USER, password: PASSWORD } };
  const options = (): ResolveOptions => ({ credentials, authCache: new AuthCache(), retry: fastRetry });
  let single: PushedImage;
  let dockerImage: PushedImage;
  let index: Buffer;

  beforeAll(async () => {
    expect(USER, "run through scripts/with-env.sh so BERTH_REGISTRY_USER is set").not.toBe("");
    single = await pushImage(REGISTRY, repo, auth, "v1");
    dockerImage = await pushImage(REGISTRY, repo, auth, "docker-v2", { docker: true });
    index = await pushMultiArch(REGISTRY, repo, auth, "multi");
  });

  it("resolves a tag to the sha256 of the pushed manifest bytes", async () => {
    const r = await resolveDigest(`${REGISTRY}/${repo}:v1`, options());
    expect(r.digest).toBe(sha256(single.manifest));
    expect(r.mediaType).toBe(OCI_MANIFEST);
    expect(r.isIndex).toBe(false);
    expect(r.pinned).toBe(`${REGISTRY}/${repo}@${r.digest}`);
  });

  it("resolves a Docker v2 manifest", async () => {
    const r = await resolveDigest(`${REGISTRY}/${repo}:docker-v2`, options());
    expect(r.digest).toBe(dockerImage.digest);
    expect(r.mediaType).toBe(DOCKER_MANIFEST);
  });

  it("pins the index digest of a multi-arch image", async () => {
    const r = await resolveDigest(`${REGISTRY}/${repo}:multi`, options());
    expect(r.digest).toBe(sha256(index));
    expect(r.isIndex).toBe(true);
    expect(r.mediaType).toBe(OCI_INDEX);
  });

  it("accepts a reference that is already pinned, and a tag+digest one", async () => {
    expect((await resolveDigest(`${REGISTRY}/${repo}@${single.digest}`, options())).digest).toBe(
      single.digest,
    );
    expect((await resolveDigest(`${REGISTRY}/${repo}:whatever@${single.digest}`, options())).digest).toBe(
      single.digest,
    );
  });

  it("authenticates up front once the host's challenge is known", async () => {
    const seen: number[] = [];
    const cache = new AuthCache();
    const counting: ResolveOptions = {
      credentials,
      authCache: cache,
      fetch: async (url, init) => {
        const res = await fetch(url, init);
        seen.push(res.status);
        return res;
      },
    };
    await resolveDigest(`${REGISTRY}/${repo}:v1`, counting);
    expect(seen).toEqual([401, 200]);
    seen.length = 0;
    await resolveDigest(`${REGISTRY}/${repo}:multi`, counting);
    expect(seen).toEqual([200]);
  });

  it("without credentials: refused-credentials error that says to add them", async () => {
    const err = await expectError(
      resolveDigest(`${REGISTRY}/${repo}:v1`, { authCache: new AuthCache(), retry: fastRetry }),
      CredentialsRefusedError,
    );
    expect(err.code).toBe("OCI_CREDENTIALS_REFUSED");
    expect(err.problem).toBe("missing");
    expect(err.message).toContain(`requires credentials and none are configured`);
  });

  it("with a wrong password: refused-credentials error without the password in it", async () => {
    const wrong = `wrong-${randomBytes(6).toString("hex")}`;
    const err = await expectError(
      resolveDigest(`${REGISTRY}/${repo}:v1`, {
        credentials: { [REGISTRY]: { username: USER, password: wrong } },
        authCache: new AuthCache(),
      }),
      CredentialsRefusedError,
    );
    expect(err.problem).toBe("refused");
    expect(err.message).toContain("refused the configured credentials");
    expect(err.message).not.toContain(wrong);
    expect(JSON.stringify(err)).not.toContain(wrong);
  });

  it("unknown repository: unknown-image error", async () => {
    const err = await expectError(
      resolveDigest(`${REGISTRY}/berth-test/absent-${RUN_ID}:v1`, options()),
      ImageNotFoundError,
    );
    expect(err.code).toBe("OCI_IMAGE_NOT_FOUND");
    expect(err.message).toContain(`has no repository \`berth-test/absent-${RUN_ID}\``);
  });

  it("unknown tag or digest: unknown-tag error", async () => {
    const err = await expectError(resolveDigest(`${REGISTRY}/${repo}:nope`, options()), TagNotFoundError);
    expect(err.code).toBe("OCI_TAG_NOT_FOUND");
    expect(err.message).toContain("has no tag `nope`");
    const byDigest = await expectError(
      resolveDigest(`${REGISTRY}/${repo}@sha256:${"0".repeat(64)}`, options()),
      TagNotFoundError,
    );
    expect(byDigest.message).toContain("no manifest with digest");
  });

  describe("behind a proxy that fails first", () => {
    let proxy: http.Server | undefined;
    let proxyAddr = "";
    let plan: Array<{ status: number; retryAfter?: string }> = [];
    let injected = 0;
    let stripDigest = false;
    const methods: string[] = [];

    beforeAll(async () => {
      const [upHost, upPort] = REGISTRY.split(":");
      proxy = http.createServer((req, res) => {
        if (req.url?.includes("/manifests/")) methods.push(req.method ?? "");
        const step = req.url?.includes("/manifests/") ? plan.shift() : undefined;
        if (step) {
          injected++;
          res.writeHead(step.status, step.retryAfter ? { "retry-after": step.retryAfter } : {});
          res.end("injected failure");
          return;
        }
        const up = http.request(
          { host: upHost, port: Number(upPort), method: req.method, path: req.url, headers: req.headers },
          (upRes) => {
            const headers = { ...upRes.headers };
            if (stripDigest) delete headers["docker-content-digest"];
            res.writeHead(upRes.statusCode ?? 502, headers);
            upRes.pipe(res);
          },
        );
        up.on("error", () => res.destroy());
        req.pipe(up);
      });
      proxyAddr = `127.0.0.1:${await listen(proxy)}`;
    });
    afterAll(() => close(proxy));

    it("retries 503s and then succeeds", async () => {
      plan = [{ status: 503 }, { status: 503 }];
      injected = 0;
      const r = await resolveDigest(`${proxyAddr}/${repo}:v1`, {
        credentials: { [proxyAddr]: { username: USER, password: PASSWORD } },
        authCache: new AuthCache(),
        retry: fastRetry,
      });
      expect(injected).toBe(2);
      expect(r.digest).toBe(single.digest);
    });

    it("without a Docker-Content-Digest header, GETs the manifest and hashes its bytes", async () => {
      stripDigest = true;
      methods.length = 0;
      try {
        const r = await resolveDigest(`${proxyAddr}/${repo}:multi`, {
          credentials: { [proxyAddr]: { username: USER, password: PASSWORD } },
          authCache: new AuthCache(),
        });
        expect(r.digest).toBe(sha256(index));
        expect(r.mediaType).toBe(OCI_INDEX);
        expect(methods).toEqual(["HEAD", "HEAD", "GET"]);
      } finally {
        stripDigest = false;
      }
    });

    it("honours Retry-After on 429", async () => {
      plan = [{ status: 429, retryAfter: "1" }];
      injected = 0;
      const started = Date.now();
      const r = await resolveDigest(`${proxyAddr}/${repo}:v1`, {
        credentials: { [proxyAddr]: { username: USER, password: PASSWORD } },
        authCache: new AuthCache(),
        retry: fastRetry,
      });
      expect(injected).toBe(1);
      expect(Date.now() - started).toBeGreaterThanOrEqual(950);
      expect(r.digest).toBe(single.digest);
    });

    it("gives up after the retries with the registry's status", async () => {
      plan = Array.from({ length: 10 }, () => ({ status: 503 }));
      injected = 0;
      const err = await expectError(
        resolveDigest(`${proxyAddr}/${repo}:v1`, {
          credentials: { [proxyAddr]: { username: USER, password: PASSWORD } },
          authCache: new AuthCache(),
          retry: { retries: 2, baseMs: 5, maxMs: 10 },
        }),
        RegistryResponseError,
      );
      expect(err.code).toBe("OCI_REGISTRY_ERROR");
      expect(err.message).toContain("try again later");
      expect(err.status).toBe(503);
      // HEAD: 3 attempts, then the GET fallback: 3 more.
      expect(injected).toBe(6);
      plan = [];
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Bearer: a second docker-registry with `auth: token`, and the token endpoint served here.

const b64url = (b: Buffer | string) => Buffer.from(b).toString("base64url");

describe("resolveDigest with a Bearer token registry", () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-oci-token-"));
  const service = "berth-test-registry";
  const issuer = "berth-test-issuer";
  const tokenUser = "puller";
  const tokenPassword = randomBytes(12).toString("hex");
  const repo = `berth-test/bearer-${RUN_ID}`;
  let registryProcess: ChildProcess | undefined;
  let registryLog = "";
  let tokenServer: http.Server | undefined;
  let registryAddr = "";
  let key: ReturnType<typeof createPrivateKey>;
  let certDer = "";
  let tokenRequests: Array<{ scope: string[]; user: string | undefined }> = [];
  let tokenField: "token" | "access_token" = "token";
  let pushed: PushedImage;
  let index: Buffer;

  /** A JWT the registry trusts: RS256, the signing certificate in x5c. */
  function mintToken(
    access: Array<{ type: string; name: string; actions: string[] }>,
    subject: string,
  ): string {
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: "JWT", alg: "RS256", x5c: [certDer] };
    const claims = {
      iss: issuer,
      sub: subject,
      aud: service,
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: randomBytes(8).toString("hex"),
      access,
    };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    return `${input}.${b64url(sign("sha256", Buffer.from(input), key))}`;
  }

  beforeAll(async () => {
    await run("openssl", [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      join(dir, "key.pem"),
      "-out",
      join(dir, "cert.pem"),
      "-days",
      "1",
      "-subj",
      "/CN=berth-test-token-issuer",
    ]);
    key = createPrivateKey(readFileSync(join(dir, "key.pem")));
    certDer = readFileSync(join(dir, "cert.pem"), "utf8")
      .replace(/-----(BEGIN|END) CERTIFICATE-----/g, "")
      .replace(/\s+/g, "");

    // The token endpoint: Basic credentials get the access they ask for; anonymous callers get
    // a token with no access (as Docker Hub does); a wrong password gets 401.
    tokenServer = http.createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://x");
      if (url.pathname !== "/token") {
        res.writeHead(404).end();
        return;
      }
      const scopes = url.searchParams.getAll("scope");
      const header = req.headers.authorization;
      let user: string | undefined;
      if (header) {
        const [u, p] = Buffer.from(header.replace(/^Basic /, ""), "base64")
          .toString()
          .split(":");
        if (u !== tokenUser || p !== tokenPassword || url.searchParams.get("service") !== service) {
          res.writeHead(401, { "content-type": "application/json" }).end('{"details":"bad credentials"}');
          return;
        }
        user = u;
      }
      tokenRequests.push({ scope: scopes, user });
      const access = user
        ? scopes.map((s) => {
            const [type, name, actions] = s.split(":");
            return { type: type ?? "", name: name ?? "", actions: (actions ?? "").split(",") };
          })
        : [];
      const token = mintToken(access, user ?? "anonymous");
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ [tokenField]: token, expires_in: 300, issued_at: new Date().toISOString() }));
    });
    const tokenPort = await listen(tokenServer);

    registryAddr = `127.0.0.1:${await freePort()}`;
    writeFileSync(
      join(dir, "config.yml"),
      [
        "version: 0.1",
        "log:",
        "  level: warn",
        "storage:",
        "  filesystem:",
        `    rootdirectory: ${join(dir, "data")}`,
        "http:",
        `  addr: ${registryAddr}`,
        `  secret: ${randomBytes(16).toString("hex")}`,
        "auth:",
        "  token:",
        `    realm: http://127.0.0.1:${tokenPort}/token`,
        `    service: ${service}`,
        `    issuer: ${issuer}`,
        `    rootcertbundle: ${join(dir, "cert.pem")}`,
        "",
      ].join("\n"),
    );
    registryProcess = spawn("docker-registry", ["serve", join(dir, "config.yml")], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    registryProcess.stdout?.on("data", (d) => {
      registryLog += d;
    });
    registryProcess.stderr?.on("data", (d) => {
      registryLog += d;
    });
    for (let i = 0; ; i++) {
      const status = await fetch(`http://${registryAddr}/v2/`).then(
        (r) => r.status,
        () => 0,
      );
      if (status === 401) break;
      if (i > 80 || registryProcess.exitCode !== null) {
        throw new Error(`the token registry did not start on ${registryAddr}:\n${registryLog}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }

    const pushAuth = `Bearer ${mintToken([{ type: "repository", name: repo, actions: ["pull", "push"] }], "pusher")}`;
    pushed = await pushImage(registryAddr, repo, pushAuth, "v1");
    index = await pushMultiArch(registryAddr, repo, pushAuth, "multi");
  });

  afterAll(async () => {
    registryProcess?.kill("SIGTERM");
    await close(tokenServer);
    rmSync(dir, { recursive: true, force: true });
  });

  const credentials = () => ({ [registryAddr]: { username: tokenUser, password: tokenPassword } });

  it("answers the registry's Bearer challenge with a token from the realm", async () => {
    tokenRequests = [];
    const r = await resolveDigest(`${registryAddr}/${repo}:v1`, {
      credentials: credentials(),
      authCache: new AuthCache(),
    });
    expect(r.digest).toBe(sha256(pushed.manifest));
    expect(tokenRequests).toEqual([{ scope: [`repository:${repo}:pull`], user: tokenUser }]);
  });

  it("caches the token per host and scope until it expires", async () => {
    tokenRequests = [];
    const cache = new AuthCache();
    const a = await resolveDigest(`${registryAddr}/${repo}:v1`, {
      credentials: credentials(),
      authCache: cache,
    });
    const b = await resolveDigest(`${registryAddr}/${repo}:multi`, {
      credentials: credentials(),
      authCache: cache,
    });
    expect(a.digest).toBe(pushed.digest);
    expect(b.digest).toBe(sha256(index));
    expect(b.isIndex).toBe(true);
    expect(tokenRequests).toHaveLength(1);
    // Another repository is another scope: a new token.
    await expectError(
      resolveDigest(`${registryAddr}/berth-test/other-${RUN_ID}:v1`, {
        credentials: credentials(),
        authCache: cache,
      }),
      ImageNotFoundError,
    );
    expect(tokenRequests).toHaveLength(2);
    // A cache whose clock is past the expiry asks again.
    let now = Date.now();
    const clocked = new AuthCache(() => now);
    await resolveDigest(`${registryAddr}/${repo}:v1`, { credentials: credentials(), authCache: clocked });
    now += 301_000;
    await resolveDigest(`${registryAddr}/${repo}:v1`, { credentials: credentials(), authCache: clocked });
    expect(tokenRequests).toHaveLength(4);
  });

  it("takes `access_token` when the endpoint answers with that", async () => {
    tokenField = "access_token";
    try {
      const r = await resolveDigest(`${registryAddr}/${repo}:v1`, {
        credentials: credentials(),
        authCache: new AuthCache(),
      });
      expect(r.digest).toBe(pushed.digest);
    } finally {
      tokenField = "token";
    }
  });

  it("a wrong password is refused at the token endpoint, and never shown", async () => {
    const wrong = `wrong-${randomBytes(6).toString("hex")}`;
    const err = await expectError(
      resolveDigest(`${registryAddr}/${repo}:v1`, {
        credentials: { [registryAddr]: { username: tokenUser, password: wrong } },
        authCache: new AuthCache(),
      }),
      CredentialsRefusedError,
    );
    expect(err.problem).toBe("refused");
    expect(err.message).toContain("token endpoint");
    expect(err.message).not.toContain(wrong);
  });

  it("an anonymous token without pull access: refused-credentials error asking for credentials", async () => {
    const err = await expectError(
      resolveDigest(`${registryAddr}/${repo}:v1`, { authCache: new AuthCache() }),
      CredentialsRefusedError,
    );
    expect(err.problem).toBe("missing");
    expect(err.message).toContain("insufficient scope");
  });
});
