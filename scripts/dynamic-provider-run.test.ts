// scripts/dynamic-provider-run.js in a fresh Node process, with a stand-in for the SDK's entry
// that prints its port as the real one does: the providers' runtime is loaded once the port is
// out (not before it), and the entry gets the engine's arguments unchanged.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = join(__dirname, "..");
const RUNTIME = join(ROOT, "dist", "provider-runtime.js");
const dir = mkdtempSync(join(tmpdir(), "berth-provider-run-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("dynamic-provider-run", () => {
  it("loads the providers' runtime right after the entry printed its port", () => {
    const entry = join(dir, "entry.js");
    writeFileSync(
      entry,
      `const runtime = ${JSON.stringify(RUNTIME)};
const before = Boolean(require.cache[runtime]);
console.log("4242");
const atPort = Boolean(require.cache[runtime]);
setImmediate(() => {
  console.error(JSON.stringify({ args: process.argv.slice(2), before, atPort, after: Boolean(require.cache[runtime]) }));
});`,
    );
    const r = spawnSync(
      process.execPath,
      [join(ROOT, "scripts", "dynamic-provider-run.js"), entry, "127.0.0.1:1", "x"],
      // Bounded: a synchronous wait blocks the worker's thread, where vitest's timeout cannot fire.
      { encoding: "utf8", timeout: 30_000 },
    );
    expect(r.error, "the node process did not end within 30 s").toBeUndefined();
    expect(r.status).toBe(0);
    expect(r.stdout).toBe("4242\n");
    expect(JSON.parse(r.stderr)).toEqual({
      args: ["127.0.0.1:1", "x"],
      before: false,
      atPort: false,
      after: true,
    });
  }, 60_000);
});
