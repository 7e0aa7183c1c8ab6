import { describe, expect, it } from "vitest";
import { generateSigningKeyPair, keyIdOf } from "../payload";
import { TrustError } from "./errors";
import type { TrustState } from "./schema";
import {
  acceptTrustSet,
  createTrustSetPayload,
  initialTrustState,
  signTrustSet,
  trustedReleaseKeys,
} from "./trust-set";

const root = generateSigningKeyPair();
const root2 = generateSigningKeyPair();
const a = generateSigningKeyPair();
const b = generateSigningKeyPair();
const evil = generateSigningKeyPair();

const start = () => initialTrustState({ trustRoots: [root.publicKey], trustedKeys: [a.publicKey] });
const set = (
  generation: number,
  releaseKeys: string[],
  o: { revoked?: string[]; roots?: string[]; threshold?: number; signers?: string[]; expiresAt?: Date } = {},
) =>
  JSON.stringify(
    signTrustSet(
      createTrustSetPayload({
        generation,
        roots: o.roots ?? [root.publicKey],
        ...(o.threshold ? { threshold: o.threshold } : {}),
        releaseKeys,
        revoked: o.revoked ?? [],
        ...(o.expiresAt
          ? { issuedAt: new Date(o.expiresAt.getTime() - 7200_000), expiresAt: o.expiresAt }
          : {}),
      }),
      o.signers ?? [root.privateKey],
    ),
  );

function refusal(state: TrustState, envelope: string): string {
  try {
    acceptTrustSet(state, envelope);
  } catch (e) {
    expect(e).toBeInstanceOf(TrustError);
    return (e as TrustError).code;
  }
  throw new Error("accepted");
}

describe("trust sets", () => {
  it("adds B, then revokes A: the node trusts A, then A and B, then only B", () => {
    let s = start();
    expect(trustedReleaseKeys(s).ids).toEqual([keyIdOf(a.publicKey)]);
    s = acceptTrustSet(s, set(1, [a.publicKey, b.publicKey])) as TrustState;
    expect(trustedReleaseKeys(s).ids.sort()).toEqual([keyIdOf(a.publicKey), keyIdOf(b.publicKey)].sort());
    s = acceptTrustSet(s, set(2, [b.publicKey], { revoked: [keyIdOf(a.publicKey)] })) as TrustState;
    expect(trustedReleaseKeys(s).ids).toEqual([keyIdOf(b.publicKey)]);
    expect(s.generation).toBe(2);
    expect(s.revoked).toEqual([keyIdOf(a.publicKey)]);
  });

  it("the same trust set read again is no change; another with the same generation is refused", () => {
    const text = set(1, [a.publicKey]);
    const s = acceptTrustSet(start(), text) as TrustState;
    expect(acceptTrustSet(s, text)).toBeUndefined();
    expect(refusal(s, set(1, [b.publicKey]))).toBe("STALE_GENERATION");
  });

  it("an older trust set is refused (the generation is a floor)", () => {
    const s = acceptTrustSet(start(), set(5, [a.publicKey])) as TrustState;
    expect(refusal(s, set(4, [a.publicKey, evil.publicKey]))).toBe("STALE_GENERATION");
  });

  it("a release key cannot sign a trust set: a leaked key A cannot keep itself trusted", () => {
    const s = start();
    expect(refusal(s, set(9, [a.publicKey, evil.publicKey], { signers: [a.privateKey] }))).toBe(
      "UNTRUSTED_SIGNER",
    );
    // Nor can it swap in its own root.
    expect(
      refusal(
        s,
        set(9, [a.publicKey], { roots: [evil.publicKey], signers: [evil.privateKey, a.privateKey] }),
      ),
    ).toBe("UNTRUSTED_SIGNER");
  });

  it("revocations are final: they cannot be dropped and a revoked key never comes back", () => {
    const s = acceptTrustSet(
      start(),
      set(2, [b.publicKey], { revoked: [keyIdOf(a.publicKey)] }),
    ) as TrustState;
    expect(refusal(s, set(3, [a.publicKey, b.publicKey]))).toBe("REVOCATION_DROPPED");
    expect(refusal(s, set(3, [a.publicKey, b.publicKey], { revoked: [keyIdOf(a.publicKey)] }))).toBe(
      "REVOKED_KEY",
    );
  });

  it("a tampered payload fails its signature", () => {
    const env = JSON.parse(set(1, [a.publicKey]));
    env.payload.releaseKeys = [evil.publicKey];
    expect(refusal(start(), JSON.stringify(env))).toBe("UNTRUSTED_SIGNER");
  });

  it("roots rotate under the current roots' threshold; the new threshold applies to the next set", () => {
    let s = acceptTrustSet(
      start(),
      set(1, [a.publicKey], { roots: [root.publicKey, root2.publicKey], threshold: 2 }),
    ) as TrustState;
    expect(s.threshold).toBe(2);
    expect(
      refusal(s, set(2, [b.publicKey], { roots: [root.publicKey, root2.publicKey], threshold: 2 })),
    ).toBe("UNTRUSTED_SIGNER");
    s = acceptTrustSet(
      s,
      set(2, [b.publicKey], {
        roots: [root2.publicKey],
        revoked: [keyIdOf(root.publicKey)],
        signers: [root.privateKey, root2.privateKey],
      }),
    ) as TrustState;
    expect(s.roots).toEqual([root2.publicKey]);
    // The revoked root signs nothing any more.
    expect(
      refusal(s, set(3, [b.publicKey], { roots: [root2.publicKey], revoked: [keyIdOf(root.publicKey)] })),
    ).toBe("UNTRUSTED_SIGNER");
  });

  it("an expired trust set is refused; a node without a trust root refuses every trust set", () => {
    expect(refusal(start(), set(1, [a.publicKey], { expiresAt: new Date(Date.now() - 3600_000) }))).toBe(
      "EXPIRED",
    );
    const noRoot = initialTrustState({ trustRoots: [], trustedKeys: [a.publicKey] });
    expect(refusal(noRoot, set(1, [a.publicKey]))).toBe("NO_TRUST_ROOT");
  });

  it("refuses what is not a trust set: a release envelope, junk, a root listed as a release key", () => {
    expect(
      refusal(start(), JSON.stringify({ payload: { formatVersion: 1 }, keyId: "x", signature: "y" })),
    ).toBe("MALFORMED");
    expect(refusal(start(), "{not json")).toBe("MALFORMED");
    expect(() =>
      createTrustSetPayload({
        generation: 1,
        roots: [root.publicKey],
        releaseKeys: [root.publicKey],
        revoked: [],
      }),
    ).toThrow(/also a root key/);
  });
});
