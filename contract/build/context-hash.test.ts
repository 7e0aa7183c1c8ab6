import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { contextFiles, contextHash, dockerignoreMatcher } from "./context-hash";

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

describe("dockerignoreMatcher, as Docker matches", () => {
  it("cleans ./ and / prefixes", () => {
    const m = dockerignoreMatcher("./node_modules\n/build/\n");
    expect(m("node_modules")).toBe(true);
    expect(m("node_modules/x/y.js")).toBe(true);
    expect(m("build/out.js")).toBe(true);
    expect(m("src/node_modules")).toBe(false);
  });

  it("reads [a-z] classes and \\ escapes as patterns, not literally", () => {
    const m = dockerignoreMatcher("log[0-9].txt\nfile\\*.txt\n");
    expect(m("log7.txt")).toBe(true);
    expect(m("logx.txt")).toBe(false);
    expect(m("log[0-9].txt")).toBe(false);
    expect(m("file*.txt")).toBe(true);
    expect(m("fileX.txt")).toBe(false);
  });

  it("re-includes a file below an excluded folder with !", () => {
    const m = dockerignoreMatcher("docs\n!docs/keep\n");
    expect(m("docs/other.md")).toBe(true);
    expect(m("docs/keep/a.md")).toBe(false);
  });

  it("skips comments, blank lines, a byte order mark and CRLF", () => {
    const m = dockerignoreMatcher("\uFEFF*.log\r\n# secret.txt\r\n\r\n");
    expect(m("a.log")).toBe(true);
    expect(m("secret.txt")).toBe(false);
  });
});

describe("contextFiles", () => {
  it("keeps .git unless .dockerignore names it", () => {
    const files = { Dockerfile: "FROM x", ".git/HEAD": "ref: refs/heads/main\n", "a.txt": "a" };
    expect(contextFiles(ctx(files))).toEqual([".git/HEAD", "Dockerfile", "a.txt"]);
    expect(contextFiles(ctx({ ...files, ".dockerignore": ".git\n" }))).toEqual([
      ".dockerignore",
      "Dockerfile",
      "a.txt",
    ]);
  });

  it("leaves out an excluded folder, except what a ! exception re-includes", () => {
    const dir = ctx({
      ".dockerignore": "./node_modules\ncache\n!cache/keep.txt\n",
      "node_modules/x/index.js": "x",
      "cache/drop.txt": "d",
      "cache/keep.txt": "k",
      "src/main.js": "m",
    });
    expect(contextFiles(dir)).toEqual([".dockerignore", "cache/keep.txt", "src/main.js"]);
  });
});
