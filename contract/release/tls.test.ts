import { beforeAll, describe, expect, it } from "vitest";
import {
  coversHost,
  parseTlsBundle,
  TlsBundleError,
  tlsBundlesFromSecrets,
  tlsSecretName,
  uncoveredHosts,
} from "./tls";
import { makeTestCertificate, type TestCertificate } from "./tls-testing";

let app: TestCertificate;
let other: TestCertificate;
beforeAll(async () => {
  app = await makeTestCertificate(["app.example.com", "*.api.example.com"]);
  other = await makeTestCertificate(["other.example.com"]);
});

describe("TLS bundles in a release", () => {
  it("reads hosts, expiry and fingerprint, and puts the key after the certificate", () => {
    const b = parseTlsBundle("app", app.key + app.certificate);
    expect(b.hosts).toEqual(["app.example.com", "*.api.example.com"]);
    expect(b.notAfter.getTime()).toBeGreaterThan(Date.now() + 29 * 86_400_000);
    expect(b.fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(b.pem.indexOf("CERTIFICATE")).toBeLessThan(b.pem.indexOf("PRIVATE KEY"));
  });

  it("refuses what HAProxy could not serve, each with its own reason", () => {
    const err = (text: string, now?: Date) => {
      try {
        parseTlsBundle("app", text, now);
      } catch (e) {
        expect(e).toBeInstanceOf(TlsBundleError);
        return (e as Error).message;
      }
      throw new Error("accepted");
    };
    expect(err(app.key)).toMatch(/^certificate app: no PEM certificate found/);
    expect(err(app.certificate)).toMatch(/no private key found/);
    expect(err(app.bundle + other.key)).toMatch(/more than one private key/);
    expect(err(app.certificate + other.key)).toMatch(/does not belong to the first certificate/);
    expect(err(app.bundle, new Date(Date.now() + 365 * 86_400_000))).toMatch(/expired on .*issue a new/);
    expect(err(app.bundle.replace(/MII[A-Za-z0-9+/]{10}/, "MIIxxxxxxxxxxxx"))).toMatch(/does not parse/);
  });

  it("matches hosts as TLS clients do: exact, or one wildcard label", () => {
    const hosts = ["app.example.com", "*.api.example.com"];
    expect(coversHost(hosts, "APP.example.com")).toBe(true);
    expect(coversHost(hosts, "v1.api.example.com")).toBe(true);
    expect(coversHost(hosts, "api.example.com")).toBe(false);
    expect(coversHost(hosts, "a.v1.api.example.com")).toBe(false);
    expect(coversHost(hosts, "example.com")).toBe(false);
  });

  it("finds the reserved secrets among a release's secrets and names uncovered route hosts", () => {
    const bundles = tlsBundlesFromSecrets({
      TOKEN: "not a certificate",
      [tlsSecretName("other")]: other.bundle,
      [tlsSecretName("app")]: app.bundle,
    });
    expect(bundles.map((b) => b.name)).toEqual(["app", "other"]);
    expect(uncoveredHosts(bundles, ["app.example.com", "x.api.example.com", "www.example.com"])).toEqual([
      "www.example.com",
    ]);
    expect(() => tlsSecretName("App_1")).toThrow(/lowercase letters, digits and dashes/);
  });
});
