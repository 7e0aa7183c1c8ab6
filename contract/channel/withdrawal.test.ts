import { describe, expect, it } from "vitest";
import {
  createReleasePayload,
  generateNodeKeyPair,
  generateSigningKeyPair,
  serializeEnvelope,
  signRelease,
} from "../payload";
import { TrustedKeys } from "../payload/verify";
import { signWithdrawal, verifyWithdrawal } from "./withdrawal";

const key = generateSigningKeyPair();
const trusted = new TrustedKeys([key.publicKey]);
const w = { environmentId: "shop", nodeId: "node-1", sequence: 7, issuedAt: "2026-12-06T08:00:00.000Z" };
const expectFor = { trustedKeys: trusted, nodeId: "node-1", environmentId: "shop" };

describe("withdrawals", () => {
  it("a withdrawal signed with a trusted key verifies for its node and environment", () => {
    const r = verifyWithdrawal(signWithdrawal(w, key.privateKey), expectFor);
    expect(r).toEqual({ ok: true, withdrawal: w });
  });

  it("refuses an untrusted key, an altered sequence, another node, junk", () => {
    expect(verifyWithdrawal(signWithdrawal(w, generateSigningKeyPair().privateKey), expectFor)).toMatchObject(
      {
        ok: false,
        reason: expect.stringMatching(/which is not trusted/),
      },
    );
    const text = signWithdrawal(w, key.privateKey).replace('"sequence":7', '"sequence":9');
    expect(verifyWithdrawal(text, expectFor)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/signature does not verify/),
    });
    expect(
      verifyWithdrawal(signWithdrawal({ ...w, nodeId: "node-2" }, key.privateKey), expectFor),
    ).toMatchObject({
      ok: false,
      reason: "the withdrawal is for shop on node-2, not shop on node-1",
    });
    expect(verifyWithdrawal("{", expectFor)).toEqual({ ok: false, reason: "the withdrawal is not JSON" });
    expect(verifyWithdrawal("x".repeat(20_000), expectFor).ok).toBe(false);
  });

  it("a release's signature never passes as a withdrawal (domain separation)", () => {
    const payload = createReleasePayload({
      environmentId: "shop",
      nodeId: "node-1",
      sequence: 7,
      composeText: "services: {}\n",
      routes: [],
      secrets: {},
      nodePublicKey: generateNodeKeyPair().publicKey,
    });
    const envelope = JSON.parse(serializeEnvelope(signRelease(payload, key.privateKey)));
    const forged = JSON.stringify({
      formatVersion: 1,
      keyId: envelope.keyId,
      signature: envelope.signature,
      withdrawal: w,
    });
    expect(verifyWithdrawal(forged, expectFor)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/does not verify/),
    });
  });
});
