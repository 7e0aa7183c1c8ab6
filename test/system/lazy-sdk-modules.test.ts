// scripts/lazy-sdk-modules.js in fresh Node processes (as the program and the dynamic providers
// run it): the SDK loads without the TypeScript compiler and @npmcli/arborist, and a dynamic
// provider serializes to the same text with the stand-ins as without them.
// In the system tier: every test starts Node.js processes that load the whole Pulumi SDK, as the
// engine's processes do (seconds of CPU each), not a unit's check.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(__dirname, "..", "..");
const node = (script: string, lazy: boolean) =>
  execFileSync(process.execPath, ["-e", `${lazy ? 'require("./scripts/lazy-sdk-modules");' : ""}${script}`], {
    cwd: ROOT,
    encoding: "utf8",
  });

const loaded = `
require("@pulumi/pulumi");
const names = Object.keys(require.cache);
console.log(JSON.stringify({
  typescript: names.some((f) => /node_modules\\/typescript\\/|typescript@/.test(f)),
  arborist: names.some((f) => f.includes("@npmcli/arborist")),
}));`;

// What Pulumi stores for a dynamic provider: its methods serialized by the closure serializer,
// which parses each function's text with the TypeScript compiler.
const serialized = `
const pulumi = require("@pulumi/pulumi");
const runtime = "/somewhere/provider-runtime.js";
const provider = {
  create: (news) => require(runtime).x.create(news),
  diff: (id, olds, news) => require(runtime).x.diff(id, olds, news),
};
pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true })
  .then((f) => console.log(f.text));`;

// The program's run entry takes the OpenTelemetry SDK only for --tracing.
const tracing = `
const tracing = require("@pulumi/pulumi/cmd/run/tracing");
const otel = () => Object.keys(require.cache).filter((f) => /@opentelemetry\\/(sdk-trace|instrumentation|exporter|resources)/.test(f)).length > 0;
const before = otel();
tracing.newSpan("a-span").end();
const afterSpan = otel();
tracing.start("http://127.0.0.1:9/api/v2/spans");
console.log(JSON.stringify({ before, afterSpan, afterStart: otel() }));
process.exit(0);`;

describe("lazy-sdk-modules", () => {
  it("the program's run entry loads the OpenTelemetry SDK only when tracing starts", () => {
    expect(JSON.parse(node(tracing, false))).toEqual({ before: true, afterSpan: true, afterStart: true });
    expect(JSON.parse(node(tracing, true))).toEqual({ before: false, afterSpan: false, afterStart: true });
  }, 60_000);

  it("the SDK loads without the TypeScript compiler and @npmcli/arborist", () => {
    expect(JSON.parse(node(loaded, false))).toEqual({ typescript: true, arborist: true });
    expect(JSON.parse(node(loaded, true))).toEqual({ typescript: false, arborist: false });
  });

  it("a dynamic provider serializes to the same text (TypeScript loaded at its first use)", () => {
    const plain = node(serialized, false);
    expect(plain).toContain("provider-runtime.js");
    expect(node(serialized, true)).toBe(plain);
  });
});
