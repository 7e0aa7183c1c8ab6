// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Compose interpolation syntax in test data
// Property tests: no input, however broken, makes the loader throw; every rejection carries a
// path and a line.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { manifestSchema } from "../manifest/schema";
import { type LoadResult, loadCompose } from "./load";
import { COMPOSE_SERVICE_FIELDS } from "./rejections";

function wellFormed(r: LoadResult): void {
  if (r.ok) {
    expect(manifestSchema.safeParse(r.manifest).success).toBe(true);
    return;
  }
  expect(r.problems.length).toBeGreaterThan(0);
  for (const p of [...r.problems, ...r.warnings]) {
    expect(p.path.length).toBeGreaterThan(0);
    expect(p.line).toBeGreaterThanOrEqual(1);
    expect(p.col).toBeGreaterThanOrEqual(1);
    expect(p.message.length).toBeGreaterThan(0);
    expect(p.message).not.toMatch(/^internal/);
  }
}

const load = (text: string, variables: Record<string, string> = {}) =>
  loadCompose(text, { file: "p.yaml", projectDir: "/p", variables });

/** YAML-ish text: pieces of syntax glued together. */
const yamlish = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        "services:",
        "\n",
        "  ",
        "    ",
        "- ",
        ": ",
        "&a ",
        "*a",
        "<<: ",
        "!reset ",
        "!!str ",
        "{",
        "}",
        "[",
        "]",
        ",",
        "'",
        '"',
        "#",
        "---\n",
        "...\n",
        "? ",
        "|\n",
        ">\n",
        "${X}",
        "$$",
        "${",
        "image: nginx",
        "build: ..",
        "depends_on: [web]",
        "web:",
        "volumes:",
        "/var/run/docker.sock:/s",
        "x-berth-routes:",
        "\t",
        "~",
        "null",
        "1e400",
        "99999999999999999999999999",
        "0x1F",
        "true",
        "%YAML 1.1\n",
      ),
      fc.string({ maxLength: 8 }),
    ),
    { maxLength: 40 },
  )
  .map((parts) => parts.join(""));

const scalar = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom(
    "nginx",
    "web",
    "data:/data",
    "/x:/y",
    "8080:80",
    "10s",
    "${V}",
    "$X",
    "service_healthy",
    "host",
  ),
);
const value = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: "small" },
    scalar,
    fc.array(tie("v"), { maxLength: 4 }),
    fc.dictionary(
      fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom(...COMPOSE_SERVICE_FIELDS)),
      tie("v"),
      {
        maxKeys: 4,
      },
    ),
  ),
})).v;

/** Compose-shaped documents: real keys with arbitrary values, so the deep passes run. */
const composeShaped = fc.record(
  {
    services: fc.dictionary(
      fc.constantFrom("web", "api", "db", "worker"),
      fc.dictionary(fc.constantFrom(...COMPOSE_SERVICE_FIELDS, "x-berth-health", "x-other"), value, {
        maxKeys: 6,
      }),
      { maxKeys: 4 },
    ),
    volumes: fc.dictionary(fc.constantFrom("data", "cache"), value, { maxKeys: 2 }),
    networks: fc.dictionary(fc.constantFrom("front", "back"), value, { maxKeys: 2 }),
    "x-berth-routes": value,
    include: value,
  },
  { requiredKeys: ["services"] },
);

describe("the loader never throws", () => {
  it("on arbitrary text", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => wellFormed(load(s))),
      { numRuns: Number(process.env.BERTH_FC_RUNS ?? 300) },
    );
  });

  it("on YAML-ish text", () => {
    fc.assert(
      fc.property(yamlish, fc.dictionary(fc.constantFrom("X", "V"), fc.string({ maxLength: 5 })), (s, vars) =>
        wellFormed(load(s, vars)),
      ),
      { numRuns: Number(process.env.BERTH_FC_RUNS ?? 500) },
    );
  }, 60_000); // hundreds of generated files: a bound on a shared machine, not a speed target

  it("on arbitrary JSON-ish values written as YAML", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (v) => wellFormed(load(stringify(v)))),
      { numRuns: Number(process.env.BERTH_FC_RUNS ?? 300) },
    );
  }, 60_000); // hundreds of generated files: a bound on a shared machine, not a speed target

  it("on Compose-shaped documents with arbitrary values", () => {
    fc.assert(
      fc.property(
        composeShaped,
        fc.dictionary(fc.constantFrom("X", "V"), fc.string({ maxLength: 5 })),
        (doc, vars) => wellFormed(load(stringify(doc), vars)),
      ),
      { numRuns: Number(process.env.BERTH_FC_RUNS ?? 500) },
    );
  }, 60_000); // hundreds of generated files: a bound on a shared machine, not a speed target

  it("on anything fast-check can make (non-strings included)", () => {
    fc.assert(
      fc.property(fc.anything(), (v) => {
        wellFormed(loadCompose(v as string));
      }),
      { numRuns: 200 },
    );
  });

  it("on deep nesting and long dependency chains", () => {
    wellFormed(load(`${"[".repeat(5000)}${"]".repeat(5000)}`));
    wellFormed(
      load(`services:\n  web:\n    image: nginx\n    labels: ${"{a: ".repeat(1000)}1${"}".repeat(1000)}\n`),
    );
    const chain = Array.from(
      { length: 3000 },
      (_, i) => `  s${i}:\n    image: x\n    depends_on: [s${i + 1}]`,
    );
    chain.push("  s3000:\n    image: x\n    depends_on: [s0]");
    wellFormed(load(`services:\n${chain.join("\n")}\n`));
  }, 60_000); // hundreds of generated files: a bound on a shared machine, not a speed target
});

describe("keys that collide with Object.prototype", () => {
  it("are plain keys", () => {
    const text = [
      "toString: 1",
      "services:",
      "  constructor:",
      "    image: nginx",
      "    hasOwnProperty: 1",
      "    environment:",
      "      __proto__: x",
      "      toString: y",
      "    labels: { constructor: z }",
      "    depends_on: [toString]",
    ].join("\n");
    const r = load(text);
    wellFormed(r);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems.map((p) => `${p.path}: ${p.message}`)).toEqual([
      'toString: unknown top-level key "toString"',
      'services.constructor.hasOwnProperty: unknown service field "hasOwnProperty"',
      "services.constructor.depends_on[0]: service constructor depends on toString, which is not defined",
    ]);
    const ok = load(
      "services:\n  web:\n    image: nginx\n    environment:\n      __proto__: x\n      constructor: y\n",
    );
    expect(ok.ok && Object.keys(ok.manifest.services.web?.environment ?? {})).toEqual([
      "__proto__",
      "constructor",
    ]);
  });
});
