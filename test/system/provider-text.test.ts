// A state written before the Release and ImageBuild resources stored their provider as one line
// (components/runtime-resource.ts): its `__provider` is the closure serializer's text of the old
// provider objects. With the real engine, on a scratch stack of the local target (no Docker: the
// deployed state is imported, support/local-preview.ts), the next preview plans nothing for those
// resources; and the old texts, which `pulumi destroy` and `pulumi refresh` load from a resource's
// outputs, still find their methods in this checkout's runtime bundle.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROVIDER_RUNTIME } from "../../components/runtime-path";
import { LocalStackScratch } from "./support/local-preview";
import { REPO_ROOT } from "./support/pulumi-project";

// The provider objects as components/release/release.ts and components/image-build/image-build.ts
// declared them, serialized the way `pulumi.dynamic.Resource` does.
const oldTexts = `
const pulumi = require("@pulumi/pulumi");
const runtime = ${JSON.stringify(PROVIDER_RUNTIME)};
const release = {
  check: (olds, news) => require(runtime).release.check(olds, news),
  diff: (id, olds, news) => require(runtime).release.diff(id, olds, news),
  create: (news) => require(runtime).release.create(news),
  update: (id, olds, news) => require(runtime).release.update(id, olds, news),
  delete: (id, olds) => require(runtime).release.remove(id, olds),
  read: (id, props) => require(runtime).release.read(id, props),
};
const imageBuild = {
  diff: (id, olds, news) => require(runtime).imageBuild.diff(id, olds, news),
  create: (news) => require(runtime).imageBuild.create(news),
  update: (id, olds, news) => require(runtime).imageBuild.update(id, olds, news),
};
Promise.all([release, imageBuild].map((p) => pulumi.runtime.serializeFunction(() => p, { allowSecrets: true })))
  .then(([r, i]) => console.log(JSON.stringify({ release: r.text, imageBuild: i.text })));`;

interface Step {
  op: string;
  urn: string;
  newState?: { inputs?: Record<string, unknown> };
}

const scratch = new LocalStackScratch();
let old: { release: string; imageBuild: string };
let planned: Step[];
let after: { steps: Step[]; changeSummary?: Record<string, number> };

beforeAll(async () => {
  old = JSON.parse(execFileSync(process.execPath, ["-e", oldTexts], { cwd: REPO_ROOT, encoding: "utf8" }));
  await scratch.init([{ name: "demo", compose: join(scratch.appDir, "compose.yaml") }]);
  const digest = JSON.parse((await scratch.preview()).stdout) as { steps: Step[] };
  planned = digest.steps;
  for (const step of digest.steps) {
    const inputs = step.newState?.inputs;
    if (inputs?.berthKind === "release") inputs.__provider = old.release;
    if (inputs?.berthKind === "image-build") inputs.__provider = old.imageBuild;
  }
  await scratch.importDeployedState(JSON.stringify(digest), { demo: 3 });
  // With --show-sames the digest lists the unchanged resources too, as "same" steps.
  after = JSON.parse((await scratch.pulumi(["preview", "--json", "--show-sames"])).stdout);
}, 300_000);

afterAll(() => scratch.remove());

describe("a state with the serialized providers of before", () => {
  it("was written with the old texts, and this program plans one line for each instead", () => {
    const providerOf = (s: Step) => String(s.newState?.inputs?.__provider);
    const ofKind = (kind: string) => planned.filter((s) => s.newState?.inputs?.berthKind === kind);
    expect(ofKind("release")).toHaveLength(1);
    expect(ofKind("image-build").length).toBeGreaterThan(0);
    // The old texts are the closure serializer's (each method a function of its own).
    expect(old.release).toContain("require(runtime).release.remove(id, olds)");
    expect(old.release.length).toBeGreaterThan(1000);
    const ours = after.steps.filter((x) => /-(release|image)$/.test(x.urn));
    expect(ours).toHaveLength(3);
    for (const s of ours) expect(providerOf(s).length, s.urn).toBeLessThan(200);
  });

  it("plans no change for the release and the images (no update, no replacement)", () => {
    const ops = Object.fromEntries(
      after.steps.filter((s) => /-(release|image)$/.test(s.urn)).map((s) => [s.urn.split("::").pop(), s.op]),
    );
    expect(ops).toEqual({ "demo-release": "same", "demo-web-image": "same", "demo-store-image": "same" });
    // Nothing else either: every resource of the imported state is "same".
    expect(Object.keys(after.changeSummary ?? {})).toEqual(["same"]);
  });

  it("the old texts still find every method in this checkout's runtime bundle", () => {
    const check = `
const requireFromString = require("require-from-string");
const old = ${JSON.stringify(old)};
const release = requireFromString(old.release).handler();
const image = requireFromString(old.imageBuild).handler();
const runtime = require(${JSON.stringify(PROVIDER_RUNTIME)});
const inputs = { contextHash: "h", repository: "r", args: {}, berthProviderVersion: "2" };
image.diff("id", inputs, inputs).then((d) => console.log(JSON.stringify({
  release: Object.keys(release),
  image: Object.keys(image),
  runtime: ["check", "diff", "create", "update", "remove", "read"].map((m) => typeof runtime.release[m])
    .concat(["diff", "create", "update"].map((m) => typeof runtime.imageBuild[m])),
  imageDiff: d.changes,
})));`;
    const r = JSON.parse(
      execFileSync(process.execPath, ["-e", check], {
        cwd: join(REPO_ROOT, "node_modules", "@pulumi", "pulumi"),
        encoding: "utf8",
      }),
    );
    expect(r.release).toEqual(["check", "diff", "create", "update", "delete", "read"]);
    expect(r.image).toEqual(["diff", "create", "update"]);
    expect(new Set(r.runtime)).toEqual(new Set(["function"]));
    // An old text's method ran the bundle's diff: equal inputs, no change.
    expect(r.imageDiff).toBe(false);
  });
});
