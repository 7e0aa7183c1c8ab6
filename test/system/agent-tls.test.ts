// TLS certificates delivered through the channel: releases carry a PEM bundle sealed to the node
// (`berth.tls.<name>`); the agent loads it into HAProxy through the runtime API. A renewal is a new
// release; a release that fails puts the previous certificate back; a broken bundle is refused
// before anything runs. Real Docker Engine, Compose v2 and HAProxy, all on 127.0.0.1.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseTlsBundle, tlsSecretName } from "../../contract/release/tls";
import { makeTestCertificate, type TestCertificate } from "../../contract/release/tls-testing";
import { AgentHarness, appManifest, httpsGet } from "./support/agent-harness";
import { testAppImage } from "./support/test-app-image";

const ENV = `tls-${Math.random().toString(36).slice(2, 6)}`;
const HOST = "app.test";
const h = new AgentHarness();
let image = "";
let certs: TestCertificate[] = [];

const fingerprint = (c: TestCertificate) => parseTlsBundle("x", c.bundle).fingerprint;
const withCert = (c: TestCertificate | string) => ({
  secrets: { [tlsSecretName("app")]: typeof c === "string" ? c : c.bundle },
});

/** GET https://app.test/ through the node proxy: the body and the certificate it was served with. */
const getTls = () => httpsGet(h.tlsPort, HOST);

beforeAll(async () => {
  image = await testAppImage();
  certs = await Promise.all([
    makeTestCertificate([HOST]),
    makeTestCertificate([HOST]),
    makeTestCertificate([HOST]),
  ]);
  await h.start({ healthTimeoutSeconds: 15, tls: true });
}, 600_000);
afterAll(async () => {
  await h.cleanup([ENV]);
});

describe("TLS certificates delivered with releases", () => {
  it("serves the certificate of release 1 over HTTPS", async () => {
    const s = await h.deploy(
      ENV,
      1,
      appManifest({ message: "v1", image }),
      withCert(certs[0] as TestCertificate),
    );
    expect(s, `${s.error}\n${s.logTail}`).toMatchObject({ state: "applied", appliedSequence: 1 });
    expect(await getTls()).toEqual({
      status: 200,
      body: "v1",
      fingerprint: fingerprint(certs[0] as TestCertificate),
    });
  });

  it("a renewed certificate arrives with the next release, without a proxy reload", async () => {
    const pid = await h.proxy.api.ping();
    const s = await h.deploy(
      ENV,
      2,
      appManifest({ message: "v2", image }),
      withCert(certs[1] as TestCertificate),
    );
    expect(s.state).toBe("applied");
    expect(await getTls()).toMatchObject({
      body: "v2",
      fingerprint: fingerprint(certs[1] as TestCertificate),
    });
    expect(await h.proxy.api.ping()).toBe(pid);
  });

  it("a release that fails its health check and rolls back leaves the previous certificate in place", async () => {
    const s = await h.deploy(
      ENV,
      3,
      appManifest({ message: "v3", image, broken: true }),
      withCert(certs[2] as TestCertificate),
    );
    expect(s.state).toBe("rolled-back");
    expect(await getTls()).toMatchObject({
      body: "v2",
      fingerprint: fingerprint(certs[1] as TestCertificate),
    });
  });

  it("refuses a release whose bundle does not hold together, before anything runs", async () => {
    const other = certs[0] as TestCertificate;
    const broken = `${(certs[2] as TestCertificate).certificate}${other.key}`;
    const s = await h.deploy(ENV, 4, appManifest({ message: "v4", image }), withCert(broken));
    expect(s.state).toBe("failed");
    expect(s.error).toMatch(/certificate app: the private key does not belong to the first certificate/);
    expect(s.error).not.toContain("PRIVATE KEY");
    expect((await h.containers(ENV)).some((c) => c.release === "4")).toBe(false);
    expect(await getTls()).toMatchObject({
      body: "v2",
      fingerprint: fingerprint(certs[1] as TestCertificate),
    });
  });
});
