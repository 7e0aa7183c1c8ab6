import { describe, expect, it } from "vitest";
import { generateSigningKeyPair, keyIdOf } from "../contract/payload";
import { parseStackConfig } from "./config";
import { resolveTrust, TrustConfigError } from "./trust-config";

const a = generateSigningKeyPair();
const b = generateSigningKeyPair();
const root = generateSigningKeyPair();

function config(trust: unknown, o: { signingKey?: string; rootKey?: string | null } = {}) {
  return parseStackConfig(
    {
      "berth:signingKey": o.signingKey ?? b.privateKey,
      "berth:environments": JSON.stringify([{ name: "demo", compose: "local/app/compose.yaml" }]),
      "berth:trust": JSON.stringify(trust),
      ...(o.rootKey === null ? {} : { "berth:trustRootKey": o.rootKey ?? root.privateKey }),
    },
    "stacks/Pulumi.test.yaml",
  );
}

function problems(f: () => unknown): string[] {
  try {
    f();
  } catch (e) {
    if (e instanceof TrustConfigError) return e.problems;
    throw e;
  }
  return [];
}

describe("berth:trust", () => {
  it("resolves roots, release keys (default: the signing key's) and revocations by key or id", () => {
    const t = resolveTrust(config({ rootKeys: [root.publicKey], revoked: [a.publicKey] }));
    expect(t).toEqual({
      roots: [root.publicKey],
      releaseKeys: [b.publicKey],
      revoked: [keyIdOf(a.publicKey)],
      validityDays: 30,
      renewBeforeDays: 10,
    });
    expect(
      resolveTrust(config({ rootKeys: [root.publicKey], revoked: [keyIdOf(a.publicKey)] }))?.revoked,
    ).toEqual([keyIdOf(a.publicKey)]);
  });

  it("names the key to fix: a missing or foreign root key, a signing key left out or revoked", () => {
    expect(problems(() => resolveTrust(config({ rootKeys: [root.publicKey] }, { rootKey: null })))).toEqual([
      expect.stringMatching(/^berth:trustRootKey: missing/),
    ]);
    expect(
      problems(() => resolveTrust(config({ rootKeys: [root.publicKey] }, { rootKey: a.privateKey }))),
    ).toEqual([
      expect.stringMatching(/^berth:trustRootKey: its public key .* is not in berth:trust.rootKeys/),
    ]);
    expect(
      problems(() => resolveTrust(config({ rootKeys: [root.publicKey], releaseKeys: [a.publicKey] }))),
    ).toEqual([
      expect.stringMatching(/^berth:trust.releaseKeys: does not list the public key of berth:signingKey/),
    ]);
    expect(
      problems(() =>
        resolveTrust(
          config({ rootKeys: [root.publicKey], releaseKeys: [b.publicKey], revoked: [b.publicKey] }),
        ),
      ),
    ).toEqual([expect.stringMatching(/^berth:signingKey: its key .* is revoked/)]);
    expect(
      problems(() =>
        resolveTrust(config({ rootKeys: [root.publicKey], releaseKeys: [b.publicKey, root.publicKey] })),
      ),
    ).toEqual([expect.stringMatching(/^berth:trust.releaseKeys\[1\]: is also a root key/)]);
    expect(problems(() => resolveTrust(config({ rootKeys: ["nope"] })))).toContain(
      "berth:trust.rootKeys[0]: not an Ed25519 public key (base64url, base64 or PEM)",
    );
  });

  it("is absent unless configured", () => {
    expect(resolveTrust(config(undefined))).toBeUndefined();
  });
});
