// scripts/promise-stacks.js in fresh Node processes, with source-map-support installed as the
// SDK's run entry installs it: the SDK's promise tracking takes no stack (unless
// PULUMI_DEBUG_PROMISE_LEAKS asks for the leak report) and still tracks the promise; every other
// stack is taken and source-mapped, also right after a tracked promise.
// In the system tier: each test starts Node.js processes that load the whole Pulumi SDK, as the
// engine's processes do (seconds of CPU each), not a unit's check.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(__dirname, "..", "..");
const script = `
require("source-map-support").install();
const debuggable = require("@pulumi/pulumi/runtime/debuggable");
require("./scripts/promise-stacks").install(debuggable);
const pulumi = require("@pulumi/pulumi");
const { getStore } = require("@pulumi/pulumi/runtime/state");
const p = Promise.resolve();
debuggable.debuggablePromise(p, "a context");
let error = "";
try {
  new pulumi.Config("x").require("missing");
} catch (e) {
  error = e.stack.split("\\n").find((l) => l.includes(" at "));
}
console.log(JSON.stringify({
  promise: String(p._debugStackTrace),
  tracked: getStore().leakCandidates.size,
  limit: Error.stackTraceLimit,
  error,
}));`;

const run = (env: Record<string, string>) =>
  JSON.parse(
    execFileSync(process.execPath, ["-e", script], {
      cwd: ROOT,
      encoding: "utf8",
      env: { ...process.env, PULUMI_DEBUG_PROMISE_LEAKS: "", ...env },
    }),
  ) as { promise: string; tracked: number; limit: number; error: string };

describe("promise-stacks", () => {
  it("takes no stack for a tracked promise, still tracks it, and source-maps every other stack", () => {
    const r = run({});
    // No frames: the error's first line only.
    expect(r.promise.trim()).toMatch(/^Error:?$/);
    // Tracked for the leak count as before; the stack limit is Node's own again after the call.
    expect(r.tracked).toBe(1);
    expect(r.limit).toBe(10);
    // The SDK's own source map names its TypeScript file.
    expect(r.error).toMatch(/config\.ts:\d+:\d+\)$/);
  });

  it("keeps them source-mapped for the leak report (PULUMI_DEBUG_PROMISE_LEAKS)", () => {
    const r = run({ PULUMI_DEBUG_PROMISE_LEAKS: "1" });
    expect(r.promise).toMatch(/at (Object\.)?debuggablePromise \(.*runtime\/debuggable\.ts:\d+:\d+\)/);
    expect(r.tracked).toBe(1);
  });
});
