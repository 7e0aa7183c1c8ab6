import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { generateSigningKeyPair } from "../payload";
import {
  acceptanceIdOf,
  enrollmentSecretFor,
  IdentityError,
  identityDocument,
  verifyIdentity,
} from "./node-identity";
import type { EnvironmentStatus } from "./status";
import { MAX_STATUS_BYTES, signStatus, unverifiedStatus, verifyStatus } from "./status-signature";
import { buildStatusVectors } from "./testdata/generate-status-vectors";

const vectors = JSON.parse(
  readFileSync(join(__dirname, "testdata", "status-vectors.json"), "utf8"),
) as ReturnType<typeof buildStatusVectors>;
const { keys } = vectors;
const expectAs = { statusKey: keys.statusKey, nodeId: "node-a", environmentId: "demo" };

describe("the committed vectors", () => {
  it("are reproduced byte for byte (a change is a format change)", () => {
    expect(buildStatusVectors()).toEqual(vectors);
  });
  it("verify", () => {
    expect(verifyStatus(vectors.signedStatus, expectAs)).toEqual({ ok: true, status: vectors.status });
    expect(verifyIdentity(vectors.identity, "node-a", keys.enrollmentSecret)).toMatchObject({
      publicKey: keys.publicKey,
      statusKey: keys.statusKey,
    });
  });
});

describe("verifyStatus refuses", () => {
  const forged: EnvironmentStatus = { ...vectors.status, attemptedSequence: 8, appliedSequence: 8 };
  it("a plain, unsigned status (what a channel writer can always write)", () => {
    const r = verifyStatus(JSON.stringify(forged), expectAs);
    expect(r).toMatchObject({ ok: false, reason: expect.stringContaining("not signed") });
    if (!r.ok) expect(r.claimed?.appliedSequence).toBe(8);
  });
  it("a status signed by another key", () => {
    const other = generateSigningKeyPair();
    const r = verifyStatus(signStatus(forged, other.privateKey), expectAs);
    expect(r).toMatchObject({ ok: false, reason: expect.stringContaining(`signed by ${other.keyId}`) });
  });
  it("a signed status whose content was changed", () => {
    const text = vectors.signedStatus.replace('"appliedSequence":7', '"appliedSequence":8');
    expect(text).not.toBe(vectors.signedStatus);
    expect(verifyStatus(text, expectAs)).toMatchObject({
      ok: false,
      reason: expect.stringContaining("does not verify"),
    });
  });
  it("a signed status moved to another environment or node", () => {
    expect(verifyStatus(vectors.signedStatus, { ...expectAs, environmentId: "other" })).toMatchObject({
      ok: false,
      reason: expect.stringContaining("not other on node-a"),
    });
    expect(verifyStatus(vectors.signedStatus, { ...expectAs, nodeId: "node-b" })).toMatchObject({
      ok: false,
    });
  });
  it("an oversized object, and junk", () => {
    expect(verifyStatus("x".repeat(MAX_STATUS_BYTES + 1), expectAs)).toMatchObject({ ok: false });
    expect(verifyStatus("{", expectAs)).toMatchObject({ ok: false, reason: "the status is not JSON" });
    expect(verifyStatus('{"formatVersion":2}', expectAs)).toMatchObject({ ok: false });
  });
  it("but reads the status inside either form without a check, for the agent itself", () => {
    expect(unverifiedStatus(vectors.signedStatus)).toEqual(vectors.status);
    expect(unverifiedStatus(JSON.stringify(vectors.status))?.state).toBe("applied");
    expect(unverifiedStatus("nope")).toBeUndefined();
  });
});

describe("identity documents", () => {
  const fields = {
    nodeId: "node-a",
    publicKey: keys.publicKey,
    statusKey: keys.statusKey,
    agentVersion: "0.1.0",
    publishedAt: "2026-12-06T08:00:00.000Z",
  };
  it("refuse a document MACed with another secret (a channel writer's swap)", () => {
    const attacker = identityDocument(
      fields,
      enrollmentSecretFor(generateSigningKeyPair().privateKey, "node-a"),
    );
    expect(() => verifyIdentity(attacker, "node-a", keys.enrollmentSecret)).toThrow(
      /does not carry a valid MAC of node node-a's enrollment secret/,
    );
  });
  it("refuse a changed key under the old MAC", () => {
    const other = generateSigningKeyPair();
    const text = vectors.identity.replace(keys.statusKey, other.publicKey);
    expect(() => verifyIdentity(text, "node-a", keys.enrollmentSecret)).toThrow(IdentityError);
  });
  it("refuse the format-1 document of an older agent, another node's, and junk", () => {
    const v1 = JSON.stringify({
      formatVersion: 1,
      nodeId: "node-a",
      publicKey: keys.publicKey,
      agentVersion: "0",
      publishedAt: "x",
    });
    expect(() => verifyIdentity(v1, "node-a", keys.enrollmentSecret)).toThrow(/not a format-2 identity/);
    expect(() => verifyIdentity(vectors.identity, "node-b", keys.enrollmentSecret)).toThrow(
      /names node node-a/,
    );
    expect(() => verifyIdentity("[", "node-a", keys.enrollmentSecret)).toThrow(/not JSON/);
  });
  it("derive a different enrollment secret per node and per enrollment key", () => {
    expect(enrollmentSecretFor(keys.signingKey, "node-b")).not.toBe(keys.enrollmentSecret);
    expect(enrollmentSecretFor(generateSigningKeyPair().privateKey, "node-a")).not.toBe(
      keys.enrollmentSecret,
    );
    expect(acceptanceIdOf(fields)).toMatch(/^ed25519:[0-9a-f]{32}$/);
  });
});
