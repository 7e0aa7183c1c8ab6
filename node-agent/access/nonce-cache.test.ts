import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { NonceCache } from "./nonce-cache";

describe("NonceCache", () => {
  it("accepts a nonce once while its token lives, and forgets it after", () => {
    const c = new NonceCache();
    expect(c.use("a", 2_000, 1_000)).toBe("fresh");
    expect(c.use("a", 2_000, 1_500)).toBe("replayed");
    expect(c.use("a", 4_000, 2_001)).toBe("fresh");
  });

  it("refuses new nonces when full rather than forget a live one", () => {
    const c = new NonceCache({ capacity: 2 });
    expect(c.use("a", 10_000, 0)).toBe("fresh");
    expect(c.use("b", 10_000, 0)).toBe("fresh");
    expect(c.use("c", 10_000, 0)).toBe("full");
    expect(c.use("a", 10_000, 0)).toBe("replayed");
    expect(c.use("c", 20_000, 10_001)).toBe("fresh");
    expect(c.size).toBe(1);
  });

  it("survives a restart through its file", () => {
    const file = join(mkdtempSync(join(tmpdir(), "berth-nonce-")), "access", "nonces.json");
    new NonceCache({ file }).use("a", 10_000, 0);
    expect(new NonceCache({ file }).use("a", 10_000, 1)).toBe("replayed");
  });
});
