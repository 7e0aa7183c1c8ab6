// scripts/provider-cache.js in fresh Node processes, on the path the SDK's dynamic resources take
// (dynamic/index.js requiring the closure serializer): a provider's text comes back byte for byte
// from the last run with the same sources, without the TypeScript compiler; a provider that
// captures anything but itself and the checkout's provider runtime is serialized every time.
// In the system tier: every test starts Node.js processes that load the whole Pulumi SDK, as the
// engine's processes do (seconds of CPU each), not a unit's check.
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const ROOT = join(__dirname, "..", "..");
const RUNTIME = join(ROOT, "dist", "provider-runtime.js");

const execFileAsync = promisify(execFile);

/** Serializes `provider` (JavaScript declaring it) as a dynamic resource would, in a fresh process. */
async function serialize(o: {
  provider: string;
  cacheDir?: string;
  sources?: string;
  env?: Record<string, string>;
}) {
  const script = `
${o.cacheDir ? `require("./scripts/provider-cache").register(() => ${JSON.stringify(o.sources ?? "s1")}, process.env.CACHE_DIR);` : ""}
require("./scripts/lazy-sdk-modules");
const Module = require("node:module");
require("@pulumi/pulumi/dynamic");
const dynamic = require.cache[require.resolve("@pulumi/pulumi/dynamic")];
const sc = Module._load("../runtime/closure/serializeClosure", dynamic, false);
${o.provider}
sc.serializeFunction(() => provider, { allowSecrets: true }).then((f) => {
  const typescript = Object.keys(require.cache).some((f) => f.includes("node_modules/typescript/"));
  console.log(JSON.stringify({ text: f.text, typescript }));
});`;
  const { stdout } = await execFileAsync(process.execPath, ["-e", script], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, CACHE_DIR: o.cacheDir ?? "", ...o.env },
  });
  return JSON.parse(stdout) as { text: string; typescript: boolean };
}

const runtimeProvider = `
const runtime = ${JSON.stringify(RUNTIME)};
const provider = {
  diff: (id, olds, news) => require(runtime).x.diff(id, olds, news),
  create: (news) => require(runtime).x.create(news),
};`;

const inlineProvider = `
const provider = {
  async create(inputs) {
    return { id: "k", outs: { ...inputs, key: require("node:crypto").randomBytes(4).toString("hex") } };
  },
  async diff() {
    return { changes: false };
  },
};`;

describe("provider-cache", () => {
  it("gives back the serializer's text byte for byte from the last run with the same sources, without TypeScript", async () => {
    // Each provider in its own cache folder, the two side by side (one process each at a time).
    await Promise.all(
      [runtimeProvider, inlineProvider].map(async (provider) => {
        const plain = await serialize({ provider });
        expect(plain.typescript).toBe(true);
        const cacheDir = mkdtempSync(join(tmpdir(), "berth-provider-cache-"));
        const first = await serialize({ provider, cacheDir });
        expect(first).toEqual(plain);
        expect(readdirSync(cacheDir)).toHaveLength(1);
        expect(await serialize({ provider, cacheDir })).toEqual({ text: plain.text, typescript: false });
        // Other program sources: serialized anew (and kept beside the first).
        expect(await serialize({ provider, cacheDir, sources: "s2" })).toEqual(plain);
        expect(readdirSync(cacheDir)).toHaveLength(2);
      }),
    );
  }, 120_000);

  it("never keeps a provider that captures a value from the environment, or another runtime path", async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), "berth-provider-cache-"));
    const fromEnv = `
const token = process.env.BERTH_TEST_TOKEN;
const provider = { create: async (news) => ({ id: token, outs: news }) };`;
    expect((await serialize({ provider: fromEnv, cacheDir, env: { BERTH_TEST_TOKEN: "a" } })).text).toContain(
      '"a"',
    );
    expect((await serialize({ provider: fromEnv, cacheDir, env: { BERTH_TEST_TOKEN: "b" } })).text).toContain(
      '"b"',
    );
    const elsewhere = runtimeProvider.replace(
      JSON.stringify(RUNTIME),
      JSON.stringify("/elsewhere/runtime.js"),
    );
    expect((await serialize({ provider: elsewhere, cacheDir })).typescript).toBe(true);
    expect(readdirSync(cacheDir)).toEqual([]);
  }, 120_000);
});
