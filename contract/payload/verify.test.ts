import { sign } from "node:crypto";
import { describe, expect, it } from "vitest";
import { canonicalJson } from "./canonical";
import { sha256Hex } from "./encoding";
import { ReleaseVerificationError, type VerifyErrorCode } from "./errors";
import { loadSigningPrivateKey } from "./keys";
import type { ReleaseEnvelope, ReleasePayload } from "./schema";
import { serializeEnvelope, signRelease } from "./sign";
import { makePayload, NOW, nodeKeys, otherSigner, SECRET_VALUE, signer, verifyOptions } from "./testing";
import { TrustedKeys, type VerifyOptions, verifyRelease } from "./verify";

function rejection(envelope: unknown, options: Partial<VerifyOptions> = {}): ReleaseVerificationError {
  try {
    verifyRelease(envelope, { ...verifyOptions, ...options });
  } catch (error) {
    expect(error).toBeInstanceOf(ReleaseVerificationError);
    const message = (error as Error).message;
    expect(message).not.toContain(SECRET_VALUE);
    expect(message).not.toContain(signer.privateKey);
    expect(message).not.toContain(nodeKeys.privateKey);
    return error as ReleaseVerificationError;
  }
  throw new Error("verification succeeded");
}

function expectCode(
  envelope: unknown,
  code: VerifyErrorCode,
  options: Partial<VerifyOptions> = {},
  message?: RegExp,
) {
  const error = rejection(envelope, options);
  expect(error.code).toBe(code);
  expect(error.message.startsWith(`${code}: `)).toBe(true);
  if (message) expect(error.message).toMatch(message);
}

/** Signs a payload built by hand (signRelease refuses schema-invalid payloads). */
function resign(payload: ReleasePayload): ReleaseEnvelope {
  return signRelease(payload, signer.privateKey);
}

describe("verifyRelease accepts", () => {
  const envelope = signRelease(makePayload(), signer.privateKey);

  it("a release for this node, as object, JSON text or UTF-8 bytes", () => {
    for (const input of [envelope, serializeEnvelope(envelope), Buffer.from(serializeEnvelope(envelope))]) {
      const verified = verifyRelease(input, verifyOptions);
      expect(verified.keyId).toBe(signer.keyId);
      expect(verified.payload).toEqual(envelope.payload);
    }
  });

  it("either of two trusted keys, so keys rotate without a gap", () => {
    const trustedKeys = new TrustedKeys([signer.publicKey, otherSigner.publicKey]);
    expect(trustedKeys.size).toBe(2);
    const byOld = signRelease(makePayload(), signer.privateKey);
    const byNew = signRelease(makePayload({ sequence: 6 }), otherSigner.privateKey);
    expect(verifyRelease(byOld, { ...verifyOptions, trustedKeys }).keyId).toBe(signer.keyId);
    expect(verifyRelease(byNew, { ...verifyOptions, trustedKeys }).keyId).toBe(otherSigner.keyId);
    // After the rotation, the old key is no longer trusted.
    expectCode(byOld, "UNKNOWN_KEY", { trustedKeys: [otherSigner.publicKey] });
  });

  it("within the clock skew on both ends of the validity window", () => {
    const payload = makePayload();
    const issued = Date.parse(payload.issuedAt);
    const expires = Date.parse(payload.expiresAt);
    const at = (ms: number) => ({ now: new Date(ms) });
    expect(() => verifyRelease(envelope, { ...verifyOptions, ...at(issued - 120_000) })).not.toThrow();
    expect(() => verifyRelease(envelope, { ...verifyOptions, ...at(expires + 120_000) })).not.toThrow();
    expectCode(envelope, "NOT_YET_VALID", { ...at(issued - 120_001) });
    expectCode(envelope, "EXPIRED", { ...at(expires + 120_001) });
    expectCode(envelope, "EXPIRED", { ...at(expires + 1), maxClockSkewSeconds: 0 });
  });
});

describe("verifyRelease rejects, each with its own code", () => {
  const envelope = signRelease(makePayload(), signer.privateKey);
  const text = serializeEnvelope(envelope);

  it("MALFORMED_ENVELOPE: not JSON, not UTF-8, wrong shape, unknown fields", () => {
    expectCode("{", "MALFORMED_ENVELOPE", {}, /not JSON/);
    expectCode(Buffer.from([0xff, 0xfe]), "MALFORMED_ENVELOPE", {}, /not UTF-8/);
    expectCode([], "MALFORMED_ENVELOPE", {}, /not a JSON object/);
    expectCode({ keyId: envelope.keyId }, "MALFORMED_ENVELOPE", {}, /payload/);
    expectCode(
      { ...envelope, payload: { ...envelope.payload, formatVersion: undefined } },
      "MALFORMED_ENVELOPE",
    );
    expectCode({ ...envelope, extra: 1 }, "MALFORMED_ENVELOPE", {}, /Unrecognized key/);
    expectCode(
      { ...envelope, payload: { ...envelope.payload, later: 1 } },
      "MALFORMED_ENVELOPE",
      {},
      /later/,
    );
    expectCode({ ...envelope, signature: "!!" }, "MALFORMED_ENVELOPE", {}, /signature/);
    expectCode(
      { ...envelope, payload: { ...envelope.payload, sequence: 0 } },
      "MALFORMED_ENVELOPE",
      {},
      /sequence/,
    );
  });

  it("UNSUPPORTED_FORMAT_VERSION: a version this verifier does not know", () => {
    for (const formatVersion of [2, 0, "1", null]) {
      expectCode(
        { ...envelope, payload: { ...envelope.payload, formatVersion, newField: true } },
        "UNSUPPORTED_FORMAT_VERSION",
        {},
        /format version .* is not supported/,
      );
    }
  });

  it("UNKNOWN_KEY: key id not among the trusted keys", () => {
    expectCode(text, "UNKNOWN_KEY", { trustedKeys: [otherSigner.publicKey] }, new RegExp(signer.keyId));
    expectCode(text, "UNKNOWN_KEY", { trustedKeys: [] }, /trusted: none/);
  });

  it("BAD_SIGNATURE: altered payload, or signature of another key", () => {
    expectCode({ ...envelope, payload: { ...envelope.payload, sequence: 99 } }, "BAD_SIGNATURE");
    const byOther = signRelease(makePayload(), otherSigner.privateKey);
    expectCode({ ...envelope, signature: byOther.signature }, "BAD_SIGNATURE");
    // The key id names a trusted key but another key signed: still a bad signature.
    expectCode({ ...byOther, keyId: signer.keyId }, "BAD_SIGNATURE");
  });

  it("COMPOSE_HASH_MISMATCH: text and hash disagree (even when signed)", () => {
    const payload = makePayload();
    const bad = { ...payload, compose: { ...payload.compose, text: `${payload.compose.text}# more\n` } };
    // signRelease refuses it; sign the canonical bytes by hand as a buggy signer would.
    expect(() => resign(bad)).toThrow(/compose.sha256/);
    const signature = sign(null, Buffer.from(canonicalJson(bad)), loadSigningPrivateKey(signer.privateKey));
    expectCode(
      { payload: bad, keyId: signer.keyId, signature: signature.toString("base64url") },
      "COMPOSE_HASH_MISMATCH",
    );
    expect(sha256Hex(bad.compose.text)).not.toBe(bad.compose.sha256);
  });

  it("WRONG_ENVIRONMENT and WRONG_NODE", () => {
    expectCode(text, "WRONG_ENVIRONMENT", { environmentId: "prod" }, /"staging".*"prod"/);
    expectCode(text, "WRONG_NODE", { nodeId: "web-2" }, /"web-1".*"web-2"/);
  });

  it("SEQUENCE_MISMATCH: a signed release read from another release's key", () => {
    expectCode(
      text,
      "SEQUENCE_MISMATCH",
      { keySequence: 9007199254740991 },
      /key of release 9007199254740991, but it is signed as release 5/,
    );
    expect(() => verifyRelease(text, { ...verifyOptions, keySequence: 5 })).not.toThrow();
  });

  it("NOT_YET_VALID and EXPIRED", () => {
    expectCode(text, "NOT_YET_VALID", { now: new Date("2025-05-31T00:00:00Z") }, /in the future/);
    expectCode(text, "EXPIRED", { now: new Date("2025-06-09T00:00:00Z") }, /expired at 2025-06-08/);
  });

  it("STALE_SEQUENCE: replay of the applied release, and rollback to an older one", () => {
    expectCode(text, "STALE_SEQUENCE", { appliedSequence: 5 }, /already applied \(replay\)/);
    expectCode(text, "STALE_SEQUENCE", { appliedSequence: 6 }, /older .* \(rollback\)/);
    expect(() => verifyRelease(text, { ...verifyOptions, appliedSequence: 0 })).not.toThrow();
  });

  it("never confuses one trusted key list for one key string", () => {
    expect(() =>
      verifyRelease(text, { ...verifyOptions, trustedKeys: signer.publicKey as unknown as string[] }),
    ).toThrow(TypeError);
  });

  it("uses the current time by default", () => {
    const fresh = signRelease(makePayload({ issuedAt: new Date(), expiresAt: undefined }), signer.privateKey);
    expect(() => verifyRelease(fresh, { ...verifyOptions, now: undefined })).not.toThrow();
    expect(NOW.getTime()).toBeLessThan(Date.now());
  });
});
