import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { contextHash, dockerignoreMatcher } from "./context-hash";

function ctx(files: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), "berth-ctx-"));
  for (const [p, c] of Object.entries(files)) {
    mkdirSync(join(dir, p, ".."), { recursive: true });
    writeFileSync(join(dir, p), c);
  }
  return dir;
}

describe("contextHash", () => {
  it("changes with content, names and modes; not with ignored files", () => {
    const a = ctx({
      Dockerfile: "FROM x",
      "src/app.py": "print(1)",
      ".dockerignore": "*.log\ncache/\n",
      "x.log": "1",
    });
    const h = contextHash(a);
    expect(
      contextHash(
        ctx({
          Dockerfile: "FROM x",
          "src/app.py": "print(1)",
          ".dockerignore": "*.log\ncache/\n",
          "y.log": "2",
          "cache/z": "3",
        }),
      ),
    ).toBe(h);
    expect(
      contextHash(
        ctx({ Dockerfile: "FROM x", "src/app.py": "print(2)", ".dockerignore": "*.log\ncache/\n" }),
      ),
    ).not.toBe(h);
    chmodSync(join(a, "src/app.py"), 0o755);
    expect(contextHash(a)).not.toBe(h);
  });

  it("reads .dockerignore patterns with ** and ! exceptions", () => {
    const m = dockerignoreMatcher("**/*.tmp\nnode_modules\n!keep.tmp\n# comment\n");
    expect(m("a/b/c.tmp")).toBe(true);
    expect(m("c.tmp")).toBe(true);
    expect(m("node_modules/x/y.js")).toBe(true);
    expect(m("keep.tmp")).toBe(false);
    expect(m("src/main.py")).toBe(false);
  });
});
