import { describe, expect, it } from "vitest";
import { parseYaml } from "./parse";
import { Problems } from "./problem";
import { accept, at, reject } from "./testing";

describe("parse", () => {
  it("reports YAML syntax errors with line and column, and stops", () => {
    const ps = reject("services:\n  web:\n    image: [nginx\n");
    expect(ps.length).toBeGreaterThan(0);
    expect(ps[0]?.message).toMatch(/^YAML syntax error/);
    expect(ps[0]?.line).toBeGreaterThanOrEqual(3);
  });

  it("reports duplicate keys", () => {
    const ps = reject("services:\n  web:\n    image: a\n    image: b\n");
    expect(ps[0]).toMatchObject({
      line: 4,
      path: "services.web.image",
      message: "duplicate key image (first at line 3)",
    });
    expect(ps[0]?.hint).toContain("each key may appear once");
  });

  it("refuses several documents", () => {
    expect(reject("services: {}\n---\nservices: {}\n")[0]?.message).toContain("YAML syntax error");
  });

  it("says when the file is empty or only comments", () => {
    for (const t of ["", "# nothing\n", "---\n", "~\n"]) {
      expect(reject(t)).toEqual([
        expect.objectContaining({ path: "(top level)", line: 1, message: "the file is empty" }),
      ]);
    }
  });

  it("refuses a document that is not a mapping", () => {
    expect(reject("- a\n- b\n")[0]?.message).toBe("a Compose file must be a mapping, got a list");
    expect(reject("hello\n")[0]?.message).toContain("must be a mapping");
  });

  it("expands anchors and aliases, and merge keys (explicit keys win)", () => {
    const r = accept(
      [
        "x-common: &common",
        "  image: nginx",
        "  restart: always",
        "services:",
        "  a:",
        "    <<: *common",
        "    restart: unless-stopped",
        "  b: *common",
        "  c:",
        "    <<: [*common]",
        "    labels: &l { app: x }",
        "  d:",
        "    image: busybox",
        "    labels: *l",
      ].join("\n"),
    );
    const s = r.manifest.services;
    expect(s.a).toMatchObject({ image: "nginx", restart: "unless-stopped" });
    expect(s.b).toMatchObject({ image: "nginx", restart: "always" });
    expect(s.c).toMatchObject({ image: "nginx", labels: { app: "x" } });
    expect(s.d?.labels).toEqual({ app: "x" });
    expect(r.manifest.extensions).toEqual({ "x-common": { image: "nginx", restart: "always" } });
  });

  it("refuses an alias bomb instead of expanding it", () => {
    const lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i < 9; i++) {
      const prev = `*a${i - 1}`;
      lines.push(`a${i}: &a${i} [${Array(10).fill(prev).join(", ")}]`);
    }
    lines.push("services: { web: { image: nginx } }");
    const problems = new Problems("f");
    const t0 = Date.now();
    expect(parseYaml(lines.join("\n"), problems).root).toBeUndefined();
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(problems.errors[0]?.message).toBe("the document expands to too many values");
  });

  it("refuses unknown tags; Compose's !reset removes the key even without a base", () => {
    const ps = reject(
      "services:\n  web:\n    image: nginx\n    command: !reset\n    restart: !weird always\n",
    );
    expect(ps.some((p) => p.path === "services.web.command")).toBe(false);
    expect(at(ps, "services.web.restart").message).toBe("unknown YAML tag !weird");
  });

  it("refuses keys that are not strings", () => {
    expect(reject("services:\n  web:\n    image: nginx\n    ? [a]\n    : b\n")[0]?.message).toBe(
      "keys must be plain strings",
    );
  });

  it("takes numbers as written in string places", () => {
    const r = accept(
      "services:\n  web:\n    image: nginx\n    environment:\n      V: 1.10\n      B: true\n      H: 0x1F\n",
    );
    expect(r.manifest.services.web?.environment).toEqual({
      V: { value: "1.10" },
      B: { value: "true" },
      H: { value: "0x1F" },
    });
  });
});
