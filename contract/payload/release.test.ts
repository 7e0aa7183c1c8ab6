import { describe, expect, it } from "vitest";
import { canonicalJson } from "./canonical";
import { sha256Hex } from "./encoding";
import { ReleasePayloadError } from "./errors";
import { releasePayloadSchema } from "./schema";
import { unsealSecrets } from "./seal";
import { serializeEnvelope, signRelease } from "./sign";
import { composeText, makePayload, nodeKeys, SECRET_VALUE, signer } from "./testing";

describe("createReleasePayload", () => {
  it("hashes the Compose text and seals the secrets to the node", () => {
    const payload = makePayload();
    expect(releasePayloadSchema.parse(payload)).toEqual(payload);
    expect(payload.formatVersion).toBe(1);
    expect(payload.compose).toEqual({ text: composeText, sha256: sha256Hex(composeText) });
    expect(payload.secrets.map((s) => s.name)).toEqual(["DB_PASSWORD"]);
    expect(unsealSecrets(payload, nodeKeys.privateKey).get("DB_PASSWORD")).toBe(SECRET_VALUE);
  });

  it("never puts a secret value in plain text into the payload or the envelope", () => {
    const envelope = serializeEnvelope(signRelease(makePayload(), signer.privateKey));
    expect(envelope).not.toContain(SECRET_VALUE);
    expect(envelope).not.toContain(Buffer.from(SECRET_VALUE).toString("base64"));
    expect(envelope).not.toContain(Buffer.from(SECRET_VALUE).toString("base64url"));
  });

  it("defaults to now and a 7-day validity", () => {
    const before = Date.now();
    const payload = makePayload({ issuedAt: undefined, expiresAt: undefined });
    const issued = Date.parse(payload.issuedAt);
    expect(issued).toBeGreaterThanOrEqual(before);
    expect(Date.parse(payload.expiresAt) - issued).toBe(7 * 24 * 3600 * 1000);
    expect(payload.issuedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it("reports every invalid field by path, before sealing anything", () => {
    try {
      makePayload({
        environmentId: "bad env",
        sequence: 0,
        routes: [{ service: "web", port: 70000, host: "Shop.Example" }],
        expiresAt: new Date("2025-05-01T00:00:00Z"),
      });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ReleasePayloadError);
      const problems = (error as ReleasePayloadError).problems.join("\n");
      expect(problems).toMatch(/^environmentId: /m);
      expect(problems).toMatch(/^sequence: /m);
      expect(problems).toMatch(/^routes\[0\]\.port: /m);
      expect(problems).toMatch(/^routes\[0\]\.host: must be a lowercase host name/m);
      expect(problems).toMatch(/^expiresAt: must be after issuedAt/m);
      expect((error as Error).message).not.toContain(SECRET_VALUE);
    }
  });

  it("signRelease refuses an invalid payload", () => {
    const payload = makePayload();
    expect(() => signRelease({ ...payload, nodeId: "" }, signer.privateKey)).toThrow(ReleasePayloadError);
    expect(() =>
      signRelease({ ...payload, secrets: [...payload.secrets, ...payload.secrets] }, signer.privateKey),
    ).toThrow(/duplicate secret DB_PASSWORD/);
  });

  it("signs deterministically (Ed25519) over the canonical bytes", () => {
    const payload = makePayload();
    const a = signRelease(payload, signer.privateKey);
    const shuffled = Object.fromEntries(Object.entries(payload).reverse()) as typeof payload;
    expect(signRelease(shuffled, signer.privateKey)).toEqual(a);
    expect(canonicalJson(shuffled)).toBe(canonicalJson(payload));
  });
});
