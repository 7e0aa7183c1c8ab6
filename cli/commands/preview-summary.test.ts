import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type Io, nodeIo } from "../io";
import { main } from "../main";

const testdata = join(__dirname, "..", "preview-summary", "testdata");

async function berth(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = { ...nodeIo(), out: (t) => out.push(t), err: (t) => err.push(t) };
  const code = await main(argv, io);
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("berth preview-summary", () => {
  it("writes the Markdown for a preview file, with a title", async () => {
    const r = await berth(["preview-summary", join(testdata, "update.json"), "--title", "prod preview"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("### prod preview");
    expect(r.out).toContain("**release 5** (now 4)");
  });

  it("writes to --out", async () => {
    const out = join(mkdtempSync(join(tmpdir(), "berth-summary-")), "summary.md");
    const r = await berth(["preview-summary", join(testdata, "update-events.jsonl"), "--out", out]);
    expect(r.code).toBe(0);
    expect(readFileSync(out, "utf8")).toContain("berth-release-health-check");
  });

  it("refuses what is not preview JSON with exit code 2", async () => {
    const r = await berth(["preview-summary", join(__dirname, "preview-summary.ts")]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("is not JSON: pass the output of `pulumi preview --json`");
  });

  it("is listed in berth's usage", async () => {
    expect((await berth(["--help"])).out).toContain("preview-summary");
  });
});
