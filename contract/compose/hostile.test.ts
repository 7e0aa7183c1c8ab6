// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Compose interpolation syntax in test data
// Hostile inputs, each with its bound: every one ends in a result or a located problem, never an
// "internal error" or a stack overflow, well within its time bound. (The bounds are generous for
// a shared test machine; bench:contract measures speed.)
import { describe, expect, it } from "vitest";
import { loadCompose } from "./load";
import { MAX_TEXT_CHARS } from "./parse";
import { formatProblem } from "./problem";

function timed(text: string) {
  const t0 = performance.now();
  const r = loadCompose(text, { file: "c.yaml" });
  return { r, ms: performance.now() - t0 };
}

const BOUND_MS = 5_000;

const aliases = (n: number) =>
  `x-a: &a nginx\nservices:\n  web:\n    image: *a\n    labels:\n${Array.from({ length: n }, (_, i) => `      l${i}: *a`).join("\n")}\n`;

describe("hostile inputs", () => {
  it("resolves 10,000 and 20,000 aliases in one walk of the document", () => {
    for (const n of [10_000, 20_000]) {
      const { r, ms } = timed(aliases(n));
      expect(r.ok, `${n} aliases`).toBe(true);
      if (r.ok) expect(Object.keys(r.manifest.services.web?.labels ?? {})).toHaveLength(n);
      expect(ms, `${n} aliases`).toBeLessThan(BOUND_MS);
    }
  }, 60_000);

  it("resolves an 800-step merge-key chain, each anchor converted once", () => {
    const l = ["x-s0: &s0 {k0: v}"];
    for (let i = 1; i < 800; i++) l.push(`x-s${i}: &s${i}\n  <<: *s${i - 1}\n  k${i}: v`);
    l.push("services:\n  web:\n    image: nginx\n    labels: *s799");
    const { r, ms } = timed(`${l.join("\n")}\n`);
    expect(ms).toBeLessThan(BOUND_MS);
    expect(r.ok ? Object.keys(r.manifest.services.web?.labels ?? {}).length : r.problems).toBe(800);
  }, 60_000);

  it("stops an alias bomb at the expansion bound, located", () => {
    const levels = "abcdefgh".split("");
    const lines = levels.map((n, i) =>
      i === 0
        ? `${n}: &${n} [x,x,x,x,x,x,x,x,x,x]`
        : `${n}: &${n} [${Array(10)
            .fill(`*${levels[i - 1]}`)
            .join(",")}]`,
    );
    const { r, ms } = timed(`${lines.join("\n")}\nservices: {web: {image: nginx, command: *h}}\n`);
    expect(ms).toBeLessThan(BOUND_MS);
    expect(r.ok ? [] : r.problems.map((p) => p.message)).toEqual(["the document expands to too many values"]);
  });

  it("says nesting too deep at LINE:COL for 100,000-deep flow nesting", () => {
    const { r, ms } = timed(`services: ${"[".repeat(100_000)}${"]".repeat(100_000)}\n`);
    expect(ms).toBeLessThan(BOUND_MS);
    expect(r.ok ? "" : formatProblem(r.problems[0] as never)).toMatch(
      /^c\.yaml:1:211 .*nesting too deep at 1:211/,
    );
  });

  it("gives a result for a 5,000-long depends_on chain", () => {
    const text = `services:\n${Array.from(
      { length: 5000 },
      (_, i) => `  s${i}:\n    image: nginx\n${i ? `    depends_on: [s${i - 1}]\n` : ""}`,
    ).join("")}`;
    const { r, ms } = timed(text);
    expect(ms).toBeLessThan(4 * BOUND_MS);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.manifest.order.slice(0, 2)).toEqual(["s0", "s1"]);
  }, 60_000);

  it("refuses deeply nested ${A:-…} defaults at their place", () => {
    let d = "x";
    for (let i = 0; i < 5000; i++) d = `\${A:-${d}}`;
    const { r, ms } = timed(`services:\n  web:\n    image: nginx\n    environment:\n      X: "${d}"\n`);
    expect(ms).toBeLessThan(BOUND_MS);
    expect(r.ok ? [] : r.problems.map((p) => `${p.line}:${p.path}: ${p.message}`)).toEqual([
      "5:services.web.environment.X: variable references nest more than 50 levels deep",
    ]);
  });

  it("refuses input over the stated size, saying its size", () => {
    const { r } = timed(`services:\n  web:\n    image: nginx\n${"# pad\n".repeat(200_000)}`);
    expect(r.ok ? "" : r.problems[0]?.message).toBe(
      `the file is 1200034 bytes, over the ${MAX_TEXT_CHARS} a Compose file may hold`,
    );
  });

  it("names a duplicate key and its path", () => {
    const { r } = timed("services:\n  web:\n    image: nginx\n  web:\n    image: x\n");
    expect(r.ok ? [] : r.problems.map(formatProblem)).toEqual([
      "c.yaml:4:3 services.web: duplicate key web (first at line 2) (each key may appear once in a mapping; remove or merge the duplicate)",
    ]);
  });
});
