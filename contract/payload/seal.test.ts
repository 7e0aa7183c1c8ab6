import { describe, expect, it } from "vitest";
import { fromBase64Url, toBase64Url } from "./encoding";
import { generateNodeKeyPair } from "./keys";
import { type SealedSecret, sealedSecretSchema } from "./schema";
import { SecretOpenError, seal, sealSecrets, unseal, unsealSecrets } from "./seal";

const node = generateNodeKeyPair();
const binding = { environmentId: "staging", nodeId: "web-1", sequence: 3, name: "DB_PASSWORD" };
const VALUE = "hunter2-but-longer-✓";

function flipByte(field: string, index = 0): string {
  const bytes = fromBase64Url(field);
  if (bytes === undefined || bytes.length === 0) throw new Error("empty field");
  bytes[index % bytes.length] = (bytes[index % bytes.length] ?? 0) ^ 0x01;
  return toBase64Url(bytes);
}

function expectOpenFails(box: SealedSecret, b = binding, key = node.privateKey): SecretOpenError {
  try {
    unseal(box, key, b);
  } catch (error) {
    expect(error).toBeInstanceOf(SecretOpenError);
    expect((error as SecretOpenError).code).toBe("SECRET_OPEN_FAILED");
    expect((error as Error).message).not.toContain(VALUE);
    expect((error as Error).message).not.toContain(key);
    return error as SecretOpenError;
  }
  throw new Error("unseal succeeded");
}

describe("seal / unseal", () => {
  it("round-trips values, including empty and non-ASCII ones", () => {
    for (const value of [VALUE, "", "x".repeat(10_000), "ünïcødé 😀"]) {
      const box = seal(value, node.publicKey, binding);
      expect(sealedSecretSchema.parse(box)).toEqual(box);
      expect(box.name).toBe("DB_PASSWORD");
      expect(unseal(box, node.privateKey, binding)).toBe(value);
    }
  });

  it("never shows the value in the box, and seals each time with a fresh ephemeral key", () => {
    const a = seal(VALUE, node.publicKey, binding);
    const b = seal(VALUE, node.publicKey, binding);
    expect(JSON.stringify(a)).not.toContain(VALUE);
    expect(a.ephemeralPublicKey).not.toBe(b.ephemeralPublicKey);
    expect(a.ciphertext).not.toBe(b.ciphertext);
  });

  it("is deterministic with an injected ephemeral key (test vectors)", () => {
    const eph = generateNodeKeyPair().privateKey;
    expect(seal(VALUE, node.publicKey, binding, { ephemeralPrivateKey: eph })).toEqual(
      seal(VALUE, node.publicKey, binding, { ephemeralPrivateKey: eph }),
    );
  });

  it.each([
    ["environment", { environmentId: "prod" }],
    ["node", { nodeId: "web-2" }],
    ["sequence", { sequence: 4 }],
    ["name", { name: "OTHER" }],
  ])("is bound to its %s", (what, change) => {
    const box = seal(VALUE, node.publicKey, binding);
    expectOpenFails(box, { ...binding, ...change });
    if (what === "name") expectOpenFails({ ...box, name: "OTHER" }, { ...binding, name: "OTHER" });
  });

  it("does not open with another node's key", () => {
    const box = seal(VALUE, node.publicKey, binding);
    expectOpenFails(box, binding, generateNodeKeyPair().privateKey);
  });

  it("detects tampering with ciphertext, tag or ephemeral key", () => {
    const box = seal(VALUE, node.publicKey, binding);
    const err = expectOpenFails({ ...box, ciphertext: flipByte(box.ciphertext, 5) });
    expect(err.message).toContain('"DB_PASSWORD"');
    expectOpenFails({ ...box, tag: flipByte(box.tag, 15) });
    expectOpenFails({ ...box, ephemeralPublicKey: flipByte(box.ephemeralPublicKey, 3) });
    expectOpenFails({ ...box, ciphertext: box.ciphertext.slice(0, -2) });
    expectOpenFails({ ...box, tag: "A".repeat(22) });
    expectOpenFails({ ...box, algorithm: "other" } as unknown as SealedSecret);
  });

  it("refuses an all-zero (low-order) ephemeral public key", () => {
    const box = seal(VALUE, node.publicKey, binding);
    expectOpenFails({ ...box, ephemeralPublicKey: toBase64Url(Buffer.alloc(32)) });
  });
});

describe("sealSecrets / unsealSecrets", () => {
  it("seal a whole map for one release, sorted by name, and open it again", () => {
    const release = { environmentId: "staging", nodeId: "web-1", sequence: 9 };
    const boxes = sealSecrets({ B: "two", A: "one" }, node.publicKey, release);
    expect(boxes.map((b) => b.name)).toEqual(["A", "B"]);
    const opened = unsealSecrets({ ...release, secrets: boxes }, node.privateKey);
    expect(Object.fromEntries(opened)).toEqual({ A: "one", B: "two" });
    expect(() => unsealSecrets({ ...release, sequence: 10, secrets: boxes }, node.privateKey)).toThrow(
      SecretOpenError,
    );
  });
});
