import { describe, expect, it } from "vitest";
import { CanonicalJsonError, canonicalBytes, canonicalJson } from "./canonical";

describe("canonicalJson (RFC 8785)", () => {
  it("sorts keys by UTF-16 code units, recursively, without whitespace", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: "x" } })).toBe(
      '{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}',
    );
    // RFC 8785 §3.2.3: "\u20ac" (€) sorts after "\r" and before "\ud83d\ude00" (😀), "1" < "A" < "a".
    expect(canonicalJson({ "😀": 1, "€": 2, "\r": 3, a: 4, A: 5, "1": 6 })).toBe(
      '{"\\r":3,"1":6,"A":5,"a":4,"€":2,"😀":1}',
    );
  });

  it("formats numbers as ECMAScript does and escapes strings minimally", () => {
    expect(canonicalJson([1e21, 0.1, -0, 1.5e-7, 333333333.3333333])).toBe(
      "[1e+21,0.1,0,1.5e-7,333333333.3333333]",
    );
    expect(canonicalJson('\u0000\n"\\/é')).toBe('"\\u0000\\n\\"\\\\/é"');
  });

  it("leaves out undefined properties", () => {
    expect(canonicalJson({ a: 1, b: undefined })).toBe('{"a":1}');
  });

  it("gives UTF-8 bytes", () => {
    expect(canonicalBytes({ x: "é" }).toString("hex")).toBe(Buffer.from('{"x":"é"}', "utf8").toString("hex"));
  });

  it("refuses values without a canonical form", () => {
    expect(() => canonicalJson(Number.NaN)).toThrow(CanonicalJsonError);
    expect(() => canonicalJson({ a: Number.POSITIVE_INFINITY })).toThrow(CanonicalJsonError);
    expect(() => canonicalJson({ a: "\uD800" })).toThrow(/lone surrogate/);
    expect(() => canonicalJson({ "\uDC00": 1 })).toThrow(/lone surrogate/);
    expect(() => canonicalJson({ at: new Date(0) })).toThrow(CanonicalJsonError);
    expect(() => canonicalJson(undefined)).toThrow(CanonicalJsonError);
    expect(() => canonicalJson({ f: () => 1 })).toThrow(CanonicalJsonError);
  });
});
