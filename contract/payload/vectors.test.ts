// The committed test vectors pin the format: the signer reproduces them byte for byte and the
// verifier accepts them. If a change here is intended, it is a new format version.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { canonicalJson } from "./canonical";
import { sha256Hex } from "./encoding";
import { ReleaseVerificationError } from "./errors";
import { keyIdOf, loadNodePrivateKey, loadSigningPrivateKey, publicKeyText } from "./keys";
import { type ReleasePayload, type SealedSecret, sealedSecretSchema } from "./schema";
import { seal, sealAssociatedData, unseal, unsealSecrets } from "./seal";
import { serializeEnvelope, signRelease } from "./sign";
import { buildVectors } from "./testdata/generate-vectors";
import { verifyRelease } from "./verify";

interface Vectors {
  formatVersion: number;
  keys: {
    signing: {
      label: string;
      keyId: string;
      publicKey: string;
      privateKey: string;
      publicKeyPem: string;
      privateKeyPem: string;
    }[];
    node: { label: string; publicKey: string; privateKey: string };
  };
  sealedSecret: {
    binding: { environmentId: string; nodeId: string; sequence: number; name: string };
    value: string;
    ephemeralPrivateKey: string;
    associatedData: string;
    box: SealedSecret;
  };
  releases: {
    name: string;
    signedBy: string;
    secretValues: Record<string, string>;
    payload: ReleasePayload;
    canonicalPayload: string;
    canonicalPayloadSha256: string;
    signature: string;
    envelope: string;
  }[];
  verifyAs: {
    environmentId: string;
    nodeId: string;
    appliedSequence: number;
    now: string;
    trustedKeys: string[];
  };
  rejections: { name: string; code: string; envelope: string; verifyAs?: Partial<Vectors["verifyAs"]> }[];
}

const vectors = JSON.parse(readFileSync(join(__dirname, "testdata", "vectors.json"), "utf8")) as Vectors;

function options(overrides: Partial<Vectors["verifyAs"]> = {}) {
  const v = { ...vectors.verifyAs, ...overrides };
  return { ...v, now: new Date(v.now) };
}

describe("committed test vectors", () => {
  it("are exactly what generate-vectors.ts produces today", () => {
    expect(JSON.parse(JSON.stringify(buildVectors()))).toEqual(vectors);
  });

  it("label every key as test-only", () => {
    expect(vectors.formatVersion).toBe(1);
    for (const key of [...vectors.keys.signing, vectors.keys.node]) expect(key.label).toMatch(/^TEST-ONLY /);
  });

  it("key ids and PEM forms agree with the raw keys", () => {
    for (const key of vectors.keys.signing) {
      expect(keyIdOf(key.publicKey)).toBe(key.keyId);
      expect(keyIdOf(key.publicKeyPem)).toBe(key.keyId);
      expect(keyIdOf(loadSigningPrivateKey(key.privateKey))).toBe(key.keyId);
      expect(publicKeyText(loadSigningPrivateKey(key.privateKeyPem))).toBe(key.publicKey);
    }
    expect(publicKeyText(loadNodePrivateKey(vectors.keys.node.privateKey))).toBe(vectors.keys.node.publicKey);
  });

  it("the fixed sealed box opens with the test node key and is reproduced with its ephemeral key", () => {
    const { binding, value, box, ephemeralPrivateKey, associatedData } = vectors.sealedSecret;
    expect(sealedSecretSchema.parse(box)).toEqual(box);
    expect(sealAssociatedData(binding).toString("utf8")).toBe(associatedData);
    expect(unseal(box, vectors.keys.node.privateKey, binding)).toBe(value);
    expect(seal(value, vectors.keys.node.publicKey, binding, { ephemeralPrivateKey })).toEqual(box);
    expect(() => unseal(box, vectors.keys.node.privateKey, { ...binding, sequence: 8 })).toThrow(
      /cannot be opened/,
    );
  });

  describe.each(vectors.releases.map((r) => [r.name, r] as const))("release %s", (_name, release) => {
    const key = vectors.keys.signing.find((k) => k.keyId === release.signedBy);

    it("has the committed canonical bytes", () => {
      expect(canonicalJson(release.payload)).toBe(release.canonicalPayload);
      expect(sha256Hex(release.canonicalPayload)).toBe(release.canonicalPayloadSha256);
    });

    it("the signer reproduces the signature and the envelope byte for byte", () => {
      expect(key).toBeDefined();
      const envelope = signRelease(release.payload, key?.privateKey ?? "");
      expect(envelope.signature).toBe(release.signature);
      expect(envelope.keyId).toBe(release.signedBy);
      expect(serializeEnvelope(envelope)).toBe(release.envelope);
      // The private key in PEM form signs the same bytes.
      expect(signRelease(release.payload, key?.privateKeyPem ?? "").signature).toBe(release.signature);
    });

    it("the verifier accepts it, and its secrets open with the node key", () => {
      const verified = verifyRelease(release.envelope, options());
      expect(verified.keyId).toBe(release.signedBy);
      expect(verified.payload).toEqual(release.payload);
      expect(Object.fromEntries(unsealSecrets(verified.payload, vectors.keys.node.privateKey))).toEqual(
        release.secretValues,
      );
    });
  });

  it.each(vectors.rejections.map((r) => [r.name, r] as const))("rejection: %s", (_name, rejection) => {
    try {
      verifyRelease(rejection.envelope, options(rejection.verifyAs));
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ReleaseVerificationError);
      expect((error as ReleaseVerificationError).code).toBe(rejection.code);
    }
  });
});
