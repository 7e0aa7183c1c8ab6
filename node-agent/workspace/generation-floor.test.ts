import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { GenerationFloors } from "./generation-floor";

const dir = mkdtempSync(join(tmpdir(), "berth-floors-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("workspace generation floors", () => {
  it("accepts newer generations, refuses older ones and a changed declaration of the same generation", () => {
    const f = new GenerationFloors(join(dir, "floors"));
    f.admit("w1", 3, "a");
    f.admit("w1", 3, "a");
    expect(() => f.admit("w1", 2, "old")).toThrow(/generation 2 is older than generation 3.*replayed/);
    expect(() => f.admit("w1", 3, "other")).toThrow(/already accepted with other content/);
    f.admit("w1", 4, "b");
    // Kept on disk: a new agent process (or one after the workspace was removed) keeps the floor.
    expect(() => new GenerationFloors(join(dir, "floors")).admit("w1", 3, "a")).toThrow(/older/);
    f.admit("w2", 1, "c");
  });
});
