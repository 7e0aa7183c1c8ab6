// What the Pulumi program's modules load at each program run's start, in a fresh Node process with
// the program's own loader (scripts/program-loader.js) and scripts/lazy-sdk-modules.js, as the
// language host runs it (scripts/program-run.js): a `pulumi up` with its preview runs the program
// twice before a lost node gets its release (bench:recover).
// - The cloud providers' SDKs (Cloudflare, Hetzner Cloud, Scaleway) load at their first use
//   (components/cloud-sdks.ts), not with the targets' modules: the local target never uses them.
// - zod's ~50 locales load when `z.locales` is used, not with zod; its English messages are the same.
// In the system tier: each case starts Node processes that load the program's modules and the
// Pulumi SDK (seconds of CPU), not a unit's check.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(__dirname, "..", "..");
const node = (script: string, preload: string[]) =>
  JSON.parse(
    execFileSync(process.execPath, [...preload.flatMap((p) => ["-r", p]), "-e", script], {
      cwd: ROOT,
      encoding: "utf8",
    }),
  );

const cloudSdks = `
const loaded = () => ["@pulumi/cloudflare", "@pulumi/hcloud", "@pulumiverse/scaleway"]
  .filter((p) => Object.keys(require.cache).some((f) => f.includes("/node_modules/" + p + "/")));
for (const t of ["local", "hetzner", "scaleway"]) require("./stacks/targets/" + t);
const atLoad = loaded();
const sdks = require("./components/cloud-sdks");
const used = [typeof sdks.cloudflareSdk().DnsRecord, typeof sdks.hcloudSdk().Server, typeof sdks.scalewaySdk().instance.Server];
console.log(JSON.stringify({ atLoad, used, afterUse: loaded() }));`;

const zodLocales = `
const locales = () => Object.keys(require.cache).filter((f) => /\\/zod\\/v4\\/locales\\/(?!en\\.cjs)/.test(f)).length;
const z = require("zod");
const r = z.object({ a: z.string() }).safeParse({ a: 1 });
const atLoad = locales();
const de = typeof z.locales.de;
console.log(JSON.stringify({ atLoad, message: r.error.issues[0].message, de, afterUse: locales() > 0 }));`;

describe("the program's modules at a run's start", () => {
  it("load the cloud providers' SDKs only when a cloud target uses them", () => {
    const r = node(cloudSdks, ["./scripts/program-loader.js", "./scripts/lazy-sdk-modules.js"]);
    expect(r.atLoad).toEqual([]);
    expect(r.used).toEqual(["function", "function", "function"]);
    expect(r.afterUse).toEqual(["@pulumi/cloudflare", "@pulumi/hcloud", "@pulumiverse/scaleway"]);
  }, 120_000);

  it("load zod's locales only when z.locales is used, with the same English messages", () => {
    const plain = node(zodLocales, []);
    expect(plain.atLoad).toBeGreaterThan(40);
    const lazy = node(zodLocales, ["./scripts/lazy-sdk-modules.js"]);
    expect(lazy).toEqual({
      atLoad: 0,
      message: plain.message,
      de: "function",
      afterUse: true,
    });
    expect(plain.message).toBe("Invalid input: expected string, received number");
  }, 120_000);
});
