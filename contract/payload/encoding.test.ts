import { describe, expect, it } from "vitest";
import { fromAnyBase64, fromBase64Url, sha256Hex, toBase64Url } from "./encoding";

describe("encodings", () => {
  it("round-trips base64url without padding", () => {
    const bytes = Buffer.from([0xfb, 0xff, 0x00, 0x01]);
    expect(toBase64Url(bytes)).toBe("-_8AAQ");
    expect(fromBase64Url("-_8AAQ")).toEqual(bytes);
  });

  it("decodes strictly: one text per byte string", () => {
    expect(fromBase64Url("-_8AAQ==")).toBeUndefined(); // padding
    expect(fromBase64Url("+/8AAQ")).toBeUndefined(); // standard alphabet
    expect(fromBase64Url("-_8AAR")).toBeUndefined(); // unused bits set
    expect(fromBase64Url("-_8AA")).toBeUndefined(); // impossible length
    expect(fromBase64Url("-_8 AAQ")).toBeUndefined();
  });

  it("reads standard base64 too", () => {
    expect(fromAnyBase64("+/8AAQ==")).toEqual(Buffer.from([0xfb, 0xff, 0x00, 0x01]));
  });

  it("hashes strings as UTF-8", () => {
    expect(sha256Hex("")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  });
});
