import { describe, expect, it } from "vitest";
import { parseBytes, parseDurationMs } from "./units";

const ms = (s: string | number) => {
  const r = parseDurationMs(s);
  return r.ok ? r.ms : r.message;
};
const bytes = (s: string | number) => {
  const r = parseBytes(s);
  return r.ok ? r.bytes : r.message;
};

describe("durations", () => {
  it("reads Go durations to milliseconds", () => {
    expect(ms("30s")).toBe(30_000);
    expect(ms("1m30s")).toBe(90_000);
    expect(ms("1.5s")).toBe(1500);
    expect(ms("500ms")).toBe(500);
    expect(ms("2h")).toBe(7_200_000);
    expect(ms("1000us")).toBe(1);
    expect(ms("0")).toBe(0);
    expect(ms(0)).toBe(0);
  });

  it("refuses what is not one", () => {
    expect(ms("10")).toContain("has no unit");
    expect(ms(10)).toContain("has no unit");
    expect(ms("abc")).toContain("is not a duration");
    expect(ms("1d")).toContain("is not a duration");
    expect(ms("")).toContain("is not a duration");
    expect(ms("-1s")).toContain("is not a duration");
    expect(ms("1ns")).toContain("finer than a millisecond");
    expect(ms("9".repeat(400) + "h")).toContain("is not a duration");
  });
});

describe("sizes", () => {
  it("reads memory sizes with binary multipliers", () => {
    expect(bytes("512m")).toBe(512 * 1024 ** 2);
    expect(bytes("1g")).toBe(1024 ** 3);
    expect(bytes("1GiB")).toBe(1024 ** 3);
    expect(bytes("1.5g")).toBe(1.5 * 1024 ** 3);
    expect(bytes("2048kb")).toBe(2048 * 1024);
    expect(bytes("100")).toBe(100);
    expect(bytes(1048576)).toBe(1048576);
  });

  it("refuses what is not one", () => {
    expect(bytes("lots")).toContain("is not a size");
    expect(bytes("0")).toContain("is not a size");
    expect(bytes(-5)).toContain("is not a size");
    expect(bytes(`${"9".repeat(30)}p`)).toContain("is not a size");
  });
});
