// scripts/inspector-on-demand.js in fresh Node processes: the run entry's wait opens no inspector
// session, the closure serializer opens it at its first use and serializes to the same text, and
// a function compiled before that session still has its file (for the serializer's messages).
// In the system tier: each test starts Node.js processes that load the whole Pulumi SDK, as the
// engine's processes do (seconds of CPU each), not a unit's check.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(__dirname, "..", "..");
const node = (script: string, onDemand: boolean) =>
  execFileSync(
    process.execPath,
    ["-e", `${onDemand ? 'require("./scripts/inspector-on-demand");' : ""}${script}`],
    { cwd: ROOT, encoding: "utf8" },
  );

// What the run entry does before it loads the program, then a serialization: a provider that
// captures a value (read through the inspector) and the runtime's path.
const serialized = `
const hooks = require("@pulumi/pulumi/runtime/closure/v8Hooks");
hooks.isInitializedAsync().then(async () => {
  const pulumi = require("@pulumi/pulumi");
  const runtime = "/somewhere/provider-runtime.js";
  const settings = { kind: "x", retries: 3 };
  const provider = {
    create: (news) => require(runtime).x.create({ ...news, ...settings }),
    diff: (id, olds, news) => require(runtime).x.diff(id, olds, news),
  };
  const f = await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true });
  console.log(f.text);
});`;

// A function of a module compiled before anything asked for the inspector, located by the
// serializer's own lookup once the session is open.
const located = `
const { install } = require("./scripts/promise-stacks");
const hooks = require("@pulumi/pulumi/runtime/closure/v8Hooks");
const v8 = require("@pulumi/pulumi/runtime/closure/v8");
hooks.isInitializedAsync().then(async () => {
  const before = hooks.getScriptUrl("1");
  const at = await v8.getFunctionLocationAsync(install);
  console.log(JSON.stringify({ before: before ?? null, file: at.file }));
});`;

describe("inspector-on-demand", () => {
  it("a dynamic provider serializes to the same text with the session opened at first use", () => {
    const plain = node(serialized, false);
    expect(plain).toContain("provider-runtime.js");
    expect(plain).toContain("retries: 3");
    expect(node(serialized, true)).toBe(plain);
  }, 60_000);

  it("the run entry's wait enables no Debugger; the serializer's first use maps every script", () => {
    const r = JSON.parse(node(located, true)) as { before: string | null; file: string };
    expect(r.before).toBeNull();
    expect(r.file).toMatch(/scripts\/promise-stacks\.js$/);
    // The SDK's own session maps only scripts compiled after it opened.
    expect((JSON.parse(node(located, false)) as { file: string }).file).toBe("");
  }, 60_000);
});
