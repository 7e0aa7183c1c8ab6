import { describe, expect, it } from "vitest";
import { generateSigningKeyPair, TrustedKeys } from "../payload";
import {
  checkBundleBytes,
  checkNewer,
  compareVersions,
  signAgentBundle,
  verifyAgentManifest,
} from "./bundle";

const a = generateSigningKeyPair();
const evil = generateSigningKeyPair();
const bundle = Buffer.from("console.log('agent')\n");

describe("agent bundle manifests", () => {
  it("verifies with a trusted key and matches the bytes", () => {
    const m = signAgentBundle(bundle, {
      version: "0.2.0",
      key: "agent/berth-agent.js",
      signingKey: a.privateKey,
    });
    const p = verifyAgentManifest(JSON.stringify(m), new TrustedKeys([a.publicKey]));
    expect(p.version).toBe("0.2.0");
    expect(() => checkBundleBytes(p, bundle)).not.toThrow();
    expect(() => checkBundleBytes(p, Buffer.from("console.log('evil')\n"))).toThrow(/BAD_BUNDLE/);
  });

  it("refuses a manifest signed by an untrusted key or altered", () => {
    const m = signAgentBundle(bundle, {
      version: "0.2.0",
      key: "agent/berth-agent.js",
      signingKey: evil.privateKey,
    });
    expect(() => verifyAgentManifest(JSON.stringify(m), new TrustedKeys([a.publicKey]))).toThrow(
      /BAD_BUNDLE/,
    );
    const good = signAgentBundle(bundle, {
      version: "0.2.0",
      key: "agent/berth-agent.js",
      signingKey: a.privateKey,
    });
    good.payload.version = "9.0.0";
    expect(() => verifyAgentManifest(JSON.stringify(good), new TrustedKeys([a.publicKey]))).toThrow(
      /BAD_BUNDLE/,
    );
  });

  it("never a downgrade: not above the running version or the highest one run", () => {
    const p = (version: string) =>
      signAgentBundle(bundle, { version, key: "k", signingKey: a.privateKey }).payload;
    expect(() => checkNewer(p("0.1.0"), "0.1.0")).toThrow(/NOT_NEWER/);
    expect(() => checkNewer(p("0.0.9"), "0.1.0")).toThrow(/NOT_NEWER/);
    expect(() => checkNewer(p("0.2.0"), "0.1.0", "0.3.0")).toThrow(/highest/);
    expect(() => checkNewer(p("0.10.0"), "0.9.0")).not.toThrow();
    expect(compareVersions("1.0.0", "0.99.99")).toBe(1);
  });
});
