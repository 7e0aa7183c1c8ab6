import { describe, expect, it } from "vitest";
import {
  DevcontainerConfigError,
  findDevcontainerConfig,
  lineColumn,
  listDevcontainerConfigs,
  parseDevcontainerConfig,
  readDevcontainerConfig,
} from "./devcontainer-config";
import { repo } from "./test-repo";

const ref = { name: "default", file: ".devcontainer/devcontainer.json" };

function errorOf(fn: () => unknown): DevcontainerConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof DevcontainerConfigError) return e;
    throw e;
  }
  throw new Error("no error");
}

describe("devcontainer config", () => {
  it("finds the default config, then named ones", () => {
    const dir = repo({
      ".devcontainer/devcontainer.json": '{ "image": "debian" }',
      ".devcontainer/python/devcontainer.json": '{ "image": "python" }',
      ".devcontainer/go/devcontainer.json": '{ "image": "go" }',
      ".devcontainer/notes/readme.md": "not a config",
    });
    expect(listDevcontainerConfigs(dir).map((c) => c.name)).toEqual(["default", "go", "python"]);
    expect(readDevcontainerConfig(dir, "python")?.build).toMatchObject({ kind: "image", image: "python" });
    expect(readDevcontainerConfig(dir)?.build.image).toBe("debian");
    expect(() => findDevcontainerConfig(dir, "rust")).toThrow(
      /no devcontainer config named "rust".*default, go, python/,
    );
  });

  it("falls back to .devcontainer.json, and to nothing", () => {
    expect(findDevcontainerConfig(repo({ ".devcontainer.json": "{}" }))?.file).toBe(".devcontainer.json");
    expect(readDevcontainerConfig(repo({ "README.md": "x" }))).toBeUndefined();
  });

  it("reads comments and trailing commas; resolves paths against the config's folder", () => {
    const c = parseDevcontainerConfig(
      `// a comment
      {
        /* block */ "build": { "dockerfile": "Dockerfile", "context": "..", "args": { "V": "1" }, },
        "features": { "./local": {}, "ghcr.io/devcontainers/features/node:1": "lts" },
      }`,
      ref,
    );
    expect(c.build).toEqual({
      kind: "dockerfile",
      dockerfile: ".devcontainer/Dockerfile",
      context: ".",
      args: { V: "1" },
      target: undefined,
      options: [],
    });
    expect(Object.keys(c.config.features ?? {})).toEqual([
      "./local",
      "ghcr.io/devcontainers/features/node:1",
    ]);
  });

  it("reads the older dockerFile/context spelling", () => {
    const c = parseDevcontainerConfig('{ "dockerFile": "../Dockerfile", "context": ".." }', ref);
    expect(c.build).toMatchObject({ kind: "dockerfile", dockerfile: "Dockerfile", context: "." });
  });

  it("gives file:line:col for broken JSON", () => {
    const e = errorOf(() => parseDevcontainerConfig('{\n  "image": "debian"\n  "remoteUser": "dev"\n}', ref));
    expect(e.message).toBe(
      ".devcontainer/devcontainer.json:3:3: not valid JSON with comments: CommaExpected",
    );
    expect([e.line, e.column]).toEqual([3, 3]);
  });

  it("gives file:line:col for a wrong type, pointing at the property", () => {
    const e = errorOf(() =>
      parseDevcontainerConfig('{\n  "build": {\n    "dockerfile": "D",\n    "args": { "A": 1 }\n  }\n}', ref),
    );
    expect(e.message).toMatch(/^\.devcontainer\/devcontainer\.json:4:15: build\.args\.A: /);
  });

  it("refuses a config with nothing to build and paths outside the repository", () => {
    expect(errorOf(() => parseDevcontainerConfig("{}", ref)).message).toMatch(
      /:1:1: a devcontainer config needs/,
    );
    expect(errorOf(() => parseDevcontainerConfig("[1]", ref)).message).toMatch(/must be a JSON object/);
    expect(
      errorOf(() => parseDevcontainerConfig('{ "build": { "dockerfile": "D", "context": "../.." } }', ref))
        .message,
    ).toMatch(/:1:33: the build context "..\/.." is outside the repository/);
  });

  it("counts lines and columns from offsets (LF, CRLF, CR)", () => {
    expect(lineColumn("ab\ncd", 4)).toEqual({ line: 2, column: 2 });
    expect(lineColumn("ab\r\ncd", 5)).toEqual({ line: 2, column: 2 });
    expect(lineColumn("ab\rcd", 3)).toEqual({ line: 2, column: 1 });
    expect(lineColumn("x", 0)).toEqual({ line: 1, column: 1 });
  });
});
