// `berth preview-summary` on previews of berth's own program (the local stack) made by the real
// CLI in a scratch stack and backend: a first deployment, no change, and a change of almost
// everything over a deployed state (see support/local-preview.ts). No Docker: only previews.
// BERTH_WRITE_PREVIEW_TESTDATA=1 rewrites cli/preview-summary/testdata/ from this run.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../../lib/process";
import { type CapturedPreviews, captureLocalPreviews, LocalStackScratch } from "./support/local-preview";
import { REPO_ROOT } from "./support/pulumi-project";

const scratch = new LocalStackScratch();
const out = mkdtempSync(join(tmpdir(), "berth-summary-"));
let captured: CapturedPreviews;

async function summary(text: string): Promise<string> {
  const file = join(out, "preview.json");
  writeFileSync(file, text);
  const r = await run("npx", ["tsx", join(REPO_ROOT, "cli", "bin.ts"), "preview-summary", file], {
    cwd: REPO_ROOT,
  });
  return r.stdout;
}

beforeAll(async () => {
  captured = await captureLocalPreviews(scratch);
  if (process.env.BERTH_WRITE_PREVIEW_TESTDATA === "1") {
    const dir = join(REPO_ROOT, "cli", "preview-summary", "testdata");
    writeFileSync(join(dir, "create.json"), captured.create);
    writeFileSync(join(dir, "update.json"), captured.update);
    // The stream's debug lines echo registrations with secret values: never kept.
    const events = captured.updateEvents.split("\n").filter((l) => !l.includes('"severity":"debug"'));
    writeFileSync(join(dir, "update-events.jsonl"), events.join("\n"));
    await run("npx", ["biome", "format", "--write", join(dir, "create.json"), join(dir, "update.json")], {
      cwd: REPO_ROOT,
    });
  }
}, 300_000);

afterAll(() => {
  scratch.remove();
  rmSync(out, { recursive: true, force: true });
});

describe("berth preview-summary on the local stack's real previews", () => {
  it("summarizes a first deployment", async () => {
    const md = await summary(captured.create);
    expect(md).toContain("#### `demo`: **release 1** (new environment) on node `local-1`");
    expect(md).toContain("#### `legacy`: **release 1** (new environment)");
  });

  it("says there is nothing to do when the program matches the state", async () => {
    const md = await summary(captured.same);
    expect(md).toContain("✅ No changes.");
    expect(md).not.toContain("Removed or replaced");
  });

  it("puts the removed environment first, then policy, then the next release and its changes", async () => {
    const md = await summary(captured.updateEvents);
    const at = (s: string) => {
      const i = md.indexOf(s);
      expect(i, s).toBeGreaterThan(0);
      return i;
    };
    expect(at("- `legacy-release` (berth release) **deleted**")).toBeLessThan(at("#### Policy"));
    expect(at("`berth-release-health-check`")).toBeLessThan(at("#### Environments"));
    at("#### `demo`: **release 5** (now 4) on node `local-1`");
    at("- `web` `GREETING` changed: `Hello from berth` → `Hello again`");
    at("- `worker` `DB_PASSWORD` added: (secret api-token)");
    at("- `store` mount added: `uploads:/uploads`");
    at("- route added: `demo.localhost/api -> web:8080`");
    expect(md).toMatch(/- `web`: sha256:[a-f0-9]{12} → rebuilt/);
  });

  it("never prints a secret, though the raw event stream holds some in its debug lines", async () => {
    for (const text of [captured.update, captured.updateEvents]) {
      const md = await summary(text);
      for (const s of captured.secrets) expect(md).not.toContain(s);
    }
    for (const s of captured.secrets) expect(captured.update).not.toContain(s);
  });
});
