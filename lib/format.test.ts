import { describe, expect, it } from "vitest";
import { humanBytes, humanDuration } from "./format";

describe("humanBytes", () => {
  it("counts in powers of 1024 with one decimal", () => {
    expect(humanBytes(0)).toBe("0 B");
    expect(humanBytes(512)).toBe("512 B");
    expect(humanBytes(1536)).toBe("1.5 KiB");
    expect(humanBytes(12.3 * 1024 * 1024)).toBe("12.3 MiB");
    expect(humanBytes(2 * 1024 ** 3)).toBe("2.0 GiB");
    expect(humanBytes(5 * 1024 ** 6)).toBe("5120.0 PiB");
  });
});

describe("humanDuration", () => {
  it("picks the unit a person reads", () => {
    expect(humanDuration(350)).toBe("350 ms");
    expect(humanDuration(4200)).toBe("4.2 s");
    expect(humanDuration(65_000)).toBe("1 min 5 s");
    expect(humanDuration(2 * 3600_000 + 3 * 60_000)).toBe("2 h 3 min");
  });
});
