// scripts/promise-stacks.js in fresh Node processes, with source-map-support installed as the
// SDK's run entry installs it: the SDK's promise-tracking stacks keep V8's own frames (unless
// PULUMI_DEBUG_PROMISE_LEAKS asks for the leak report), every other stack is source-mapped.
// In the system tier: each test starts Node.js processes that load the whole Pulumi SDK, as the
// engine's processes do (seconds of CPU each), not a unit's check.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(__dirname, "..", "..");
const script = `
require("source-map-support").install();
require("./scripts/promise-stacks").install();
const pulumi = require("@pulumi/pulumi");
const { debuggablePromise } = require("@pulumi/pulumi/runtime/debuggable");
const p = Promise.resolve();
debuggablePromise(p, "a context");
let error = "";
try {
  new pulumi.Config("x").require("missing");
} catch (e) {
  error = e.stack.split("\\n").find((l) => l.includes(" at "));
}
console.log(JSON.stringify({ promise: p._debugStackTrace.split("\\n")[1], error }));`;

const run = (env: Record<string, string>) =>
  JSON.parse(
    execFileSync(process.execPath, ["-e", script], {
      cwd: ROOT,
      encoding: "utf8",
      env: { ...process.env, PULUMI_DEBUG_PROMISE_LEAKS: "", ...env },
    }),
  ) as { promise: string; error: string };

describe("promise-stacks", () => {
  it("formats debuggablePromise's stacks without source maps, and every other stack with them", () => {
    const r = run({});
    expect(r.promise).toMatch(/at debuggablePromise \(.*runtime\/debuggable\.js:\d+:\d+\)$/);
    // The SDK's own source map names its TypeScript file.
    expect(r.error).toMatch(/config\.ts:\d+:\d+\)$/);
  });

  it("keeps them source-mapped for the leak report (PULUMI_DEBUG_PROMISE_LEAKS)", () => {
    const r = run({ PULUMI_DEBUG_PROMISE_LEAKS: "1" });
    expect(r.promise).toMatch(/at debuggablePromise \(.*runtime\/debuggable\.ts:\d+:\d+\)$/);
  });
});
