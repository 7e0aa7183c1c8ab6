import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { flushedAfter, whileFlushing } from "./flush";

const dir = mkdtempSync(join(tmpdir(), "berth-flush-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("whileFlushing", () => {
  it("returns what the work returns, after the work has ended", async () => {
    let ended = false;
    const work = new Promise<string>((r) =>
      setTimeout(() => {
        writeFileSync(join(dir, "a"), "restored");
        ended = true;
        r("ok");
      }, 50),
    );
    await expect(whileFlushing(dir, work, 10)).resolves.toBe("ok");
    expect(ended).toBe(true);
    expect(readFileSync(join(dir, "a"), "utf8")).toBe("restored");
  });

  it("passes the work's failure on and stops flushing", async () => {
    const work = new Promise<never>((_, j) => setTimeout(() => j(new Error("restic failed")), 30));
    await expect(whileFlushing(dir, work, 10)).rejects.toThrow("restic failed");
  });
});

describe("flushedAfter", () => {
  it("returns what the work returns; a failure passes on", async () => {
    const work = new Promise<number>((r) => setTimeout(() => r(7), 20));
    await expect(flushedAfter(dir, work)).resolves.toBe(7);
    await expect(flushedAfter(dir, Promise.reject(new Error("restic failed")))).rejects.toThrow(
      "restic failed",
    );
  });
});
