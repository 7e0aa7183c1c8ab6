import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Floors } from "./floors";

describe("Floors", () => {
  it("only rises, and outlives the environment's own state", () => {
    const root = mkdtempSync(join(tmpdir(), "berth-floors-"));
    const f = new Floors(root);
    expect(f.get("shop")).toBe(0);
    f.raise("shop", 4);
    f.raise("shop", 2);
    expect(f.get("shop")).toBe(4);
    rmSync(join(root, "environments"), { recursive: true, force: true });
    expect(new Floors(root).get("shop")).toBe(4);
  });

  it("says what to do when the floor file is damaged", () => {
    const root = mkdtempSync(join(tmpdir(), "berth-floors-"));
    const f = new Floors(root);
    f.raise("shop", 1);
    writeFileSync(join(root, "floors", "shop.json"), "{");
    expect(() => f.get("shop")).toThrow(/anti-rollback floor .*shop\.json is unreadable: restore it/);
    expect(() => f.get("../x")).toThrow(/not an environment id/);
  });
});
