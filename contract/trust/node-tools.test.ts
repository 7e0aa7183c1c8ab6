import { describe, expect, it } from "vitest";
import { generateSigningKeyPair, TrustedKeys } from "../payload";
import {
  ELF_MACHINE,
  elfArch,
  type NodeArch,
  nodeToolKey,
  signNodeTools,
  verifyNodeTools,
} from "./node-tools";

const a = generateSigningKeyPair();
const evil = generateSigningKeyPair();

/** The first bytes of a 64-bit little-endian ELF executable for `arch`, then `rest`. */
function fakeElf(arch: NodeArch | number, rest = "program"): Buffer {
  const h = Buffer.alloc(64);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]).copy(h);
  h.writeUInt16LE(2, 16);
  h.writeUInt16LE(typeof arch === "number" ? arch : ELF_MACHINE[arch], 18);
  return Buffer.concat([h, Buffer.from(rest)]);
}

const build = "0123456789abcdef";

describe("the stargz tools' manifest", () => {
  it("names each file's key, size and SHA-256, and verifies with the release key", () => {
    const m = signNodeTools(
      [
        { name: "berth-stargz-snapshotter", arch: "amd64", bytes: fakeElf("amd64") },
        { name: "berth-stargz-snapshotter", arch: "arm64", bytes: fakeElf("arm64") },
      ],
      { build, signingKey: a.privateKey },
    );
    const p = verifyNodeTools(JSON.stringify(m), new TrustedKeys([a.publicKey]));
    expect(p.files.map((f) => f.key)).toEqual([
      "agent/stargz/0123456789abcdef/linux-amd64/berth-stargz-snapshotter",
      "agent/stargz/0123456789abcdef/linux-arm64/berth-stargz-snapshotter",
    ]);
    expect(p.files[0]?.bytes).toBe(fakeElf("amd64").length);
  });

  it("refuses a manifest signed by another key, or altered after signing", () => {
    const m = signNodeTools([{ name: "berth-estargz", arch: "amd64", bytes: fakeElf("amd64") }], {
      build,
      signingKey: evil.privateKey,
    });
    expect(() => verifyNodeTools(JSON.stringify(m), new TrustedKeys([a.publicKey]))).toThrow(
      /not signed by a trusted release key/,
    );
    const good = signNodeTools([{ name: "berth-estargz", arch: "amd64", bytes: fakeElf("amd64") }], {
      build,
      signingKey: a.privateKey,
    });
    const altered = {
      ...good,
      payload: { ...good.payload, files: [{ ...good.payload.files[0], bytes: 1 }] },
    };
    expect(() => verifyNodeTools(JSON.stringify(altered), new TrustedKeys([a.publicKey]))).toThrow(
      /BAD_BUNDLE/,
    );
    expect(() => verifyNodeTools("{", new TrustedKeys([a.publicKey]))).toThrow(/MALFORMED/);
  });

  it("refuses to sign a file built for another CPU, or not an executable", () => {
    const sign = (bytes: Buffer) =>
      signNodeTools([{ name: "berth-estargz", arch: "arm64", bytes }], { build, signingKey: a.privateKey });
    expect(() => sign(fakeElf("amd64"))).toThrow(/berth-estargz for arm64 is built for amd64/);
    expect(() => sign(fakeElf(40))).toThrow(/machine 40, neither x86-64 nor AArch64/);
    expect(() => sign(Buffer.from("#!/bin/sh\necho hi\n"))).toThrow(/not an ELF file/);
  });

  it("reads the architecture from an ELF header", () => {
    expect(elfArch(fakeElf("amd64"))).toBe("amd64");
    expect(elfArch(fakeElf("arm64"))).toBe("arm64");
    const b32 = fakeElf("amd64");
    b32[4] = 1;
    expect(elfArch(b32)).toMatch(/not a 64-bit/);
    expect(() => nodeToolKey("../x", "amd64", "berth-estargz")).toThrow();
  });
});
