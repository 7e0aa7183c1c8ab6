import { createHash, createPublicKey, generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { fromBase64Url } from "./encoding";
import {
  generateNodeKeyPair,
  generateSigningKeyPair,
  KeyError,
  keyIdOf,
  loadNodePrivateKey,
  loadNodePublicKey,
  loadSigningPrivateKey,
  loadSigningPublicKey,
  privateKeyText,
  publicKeyText,
} from "./keys";

describe("signing keys (Ed25519)", () => {
  it("are generated as raw 32-byte base64url with a key id", () => {
    const pair = generateSigningKeyPair();
    expect(fromBase64Url(pair.publicKey)?.length).toBe(32);
    expect(fromBase64Url(pair.privateKey)?.length).toBe(32);
    expect(pair.keyId).toMatch(/^ed25519:[0-9a-f]{32}$/);
    expect(keyIdOf(pair.publicKey)).toBe(pair.keyId);
    expect(keyIdOf(loadSigningPrivateKey(pair.privateKey))).toBe(pair.keyId);
    // Raw text carries no type: a raw private key read as a public key is another (wrong) key.
    expect(keyIdOf(pair.privateKey)).not.toBe(pair.keyId);
    expect(publicKeyText(loadSigningPrivateKey(pair.privateKey))).toBe(pair.publicKey);
    expect(privateKeyText(loadSigningPrivateKey(pair.privateKey))).toBe(pair.privateKey);
  });

  it("load from PEM, standard base64 and KeyObjects alike", () => {
    const { publicKey, privateKey } = generateKeyPairSync("ed25519");
    const id = keyIdOf(publicKey);
    const raw = publicKeyText(publicKey);
    expect(keyIdOf(publicKey.export({ format: "pem", type: "spki" }).toString())).toBe(id);
    expect(keyIdOf(Buffer.from(raw, "base64url").toString("base64"))).toBe(id);
    expect(keyIdOf(privateKey)).toBe(id);
    const pem = privateKey.export({ format: "pem", type: "pkcs8" }).toString();
    expect(privateKeyText(loadSigningPrivateKey(pem))).toBe(privateKeyText(privateKey));
  });

  it("key id is ed25519: + first 16 bytes of SHA-256 of the raw public key", () => {
    // Raw public key of the RFC 8032 test 1 secret key.
    const raw = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    const id = keyIdOf(Buffer.from(raw, "hex").toString("base64url"));
    expect(id).toBe(
      `ed25519:${createHash("sha256").update(Buffer.from(raw, "hex")).digest("hex").slice(0, 32)}`,
    );
  });

  it("refuse keys of the wrong kind or shape, without echoing them", () => {
    const node = generateNodeKeyPair();
    const x25519Pem = createPublicKey(loadNodePrivateKey(node.privateKey))
      .export({ format: "pem", type: "spki" })
      .toString();
    expect(() => loadSigningPublicKey(x25519Pem)).toThrow(/Ed25519 public key: got a x25519 key/);
    expect(() => loadSigningPrivateKey(loadNodePrivateKey(node.privateKey))).toThrow(KeyError);
    expect(() =>
      loadSigningPrivateKey(createPublicKey(loadSigningPrivateKey(generateSigningKeyPair().privateKey))),
    ).toThrow(/got a public key/);
    const tooShort = Buffer.alloc(31, 7).toString("base64url");
    expect(() => loadSigningPublicKey(tooShort)).toThrow(/expected 32 bytes/);
    const secretish = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5IGF0IGFsbA==\n-----END PRIVATE KEY-----";
    try {
      loadSigningPrivateKey(secretish);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(KeyError);
      expect((error as KeyError).code).toBe("INVALID_KEY");
      expect((error as Error).message).not.toContain("bm90IGEga2V5");
    }
  });
});

describe("node keys (X25519)", () => {
  it("are generated as raw 32-byte base64url and load back", () => {
    const pair = generateNodeKeyPair();
    expect(fromBase64Url(pair.publicKey)?.length).toBe(32);
    expect(publicKeyText(loadNodePrivateKey(pair.privateKey))).toBe(pair.publicKey);
    expect(publicKeyText(loadNodePublicKey(loadNodePrivateKey(pair.privateKey)))).toBe(pair.publicKey);
    expect(() => loadNodePublicKey(generateSigningKeyPair().publicKey)).not.toThrow(); // raw bytes carry no type
    expect(() => keyIdOf(loadNodePublicKey(pair.publicKey))).toThrow(/got a x25519 key/);
  });
});
