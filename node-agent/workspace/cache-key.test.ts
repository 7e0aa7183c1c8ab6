import { writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  computeCacheKey,
  devcontainerRepository,
  devcontainerTags,
  layerFormatOf,
  referencedContextFiles,
  sanitizeRepositoryComponent,
  sanitizeTagPart,
} from "./cache-key";
import { parseDevcontainerConfig, readDevcontainerConfig } from "./devcontainer-config";
import { repo, write } from "./test-repo";

const DOCKERFILE = `FROM debian:trixie
ARG TOOLS=tools
COPY requirements.txt /tmp/
COPY \${TOOLS}/ /opt/tools/
RUN apt-get update && apt-get install -y make
`;

function baseRepo(extra: Record<string, string> = {}) {
  return repo({
    ".devcontainer/devcontainer.json": JSON.stringify({
      build: { dockerfile: "../Dockerfile", context: "..", args: { A: "1", B: "2" } },
      features: { "ghcr.io/devcontainers/features/node:1": { version: "20" }, "./local-feature": {} },
      postCreateCommand: "make setup",
    }),
    ".devcontainer/local-feature/devcontainer-feature.json": '{ "id": "local-feature", "version": "1.0.0" }',
    ".devcontainer/local-feature/install.sh": "#!/bin/sh\necho hi\n",
    Dockerfile: DOCKERFILE,
    "requirements.txt": "make==4\n",
    "tools/build.sh": "echo build\n",
    "src/main.py": "print(1)\n",
    ".dockerignore": "tools/*.log\n",
    ...extra,
  });
}

function keyOf(dir: string, name?: string, cliVersion = "0.89.0", architecture = "amd64"): string {
  const config = readDevcontainerConfig(dir, name);
  if (!config) throw new Error("no config");
  return computeCacheKey({ repoDir: dir, config, cliVersion, architecture }).key;
}

describe("cache key", () => {
  it("is a SHA-256 that does not depend on where the repository was cloned", () => {
    const k = keyOf(baseRepo());
    expect(k).toMatch(/^[0-9a-f]{64}$/);
    expect(keyOf(baseRepo())).toBe(k);
  });

  it("covers only the files the Dockerfile reads, after .dockerignore", () => {
    const dir = baseRepo();
    const config = readDevcontainerConfig(dir)!;
    const k = computeCacheKey({ repoDir: dir, config, cliVersion: "0.89.0", architecture: "amd64" });
    expect(k.files).toEqual(["requirements.txt", "tools/build.sh"]);
  });

  it("does not change for a touched unrelated file, an ignored file, or the .git folder", () => {
    const dir = baseRepo();
    const k = keyOf(dir);
    write(dir, "src/main.py", "print(2)\n");
    write(dir, "README.md", "new\n");
    write(dir, "tools/debug.log", "ignored by .dockerignore\n");
    write(dir, ".git/HEAD", "ref: refs/heads/main\n");
    expect(keyOf(dir)).toBe(k);
  });

  it("matches .dockerignore as Docker does: ./ prefixes, [a-z] classes, \\ escapes, and .git only when named", () => {
    const files = {
      Dockerfile: "FROM debian\nCOPY . /src\n",
      ".git/HEAD": "ref: refs/heads/main\n",
      "node_modules/x/index.js": "x\n",
      "logs/a.log": "a\n",
      "logs/B.log": "b\n",
      "star*.txt": "literal star\n",
      "starry.txt": "not matched by the escaped star\n",
      "src/main.py": "print(1)\n",
    };
    const dir = repo(files);
    const ignore = "./node_modules\nlogs/[a-z].log\nstar\\*.txt\n";
    expect(referencedContextFiles(dir, ["."], ignore)).toEqual([
      ".git/HEAD",
      "Dockerfile",
      "logs/B.log",
      "src/main.py",
      "starry.txt",
    ]);
    expect(referencedContextFiles(dir, ["."], `${ignore}.git\n`)).not.toContain(".git/HEAD");
    expect(referencedContextFiles(dir, ["."], undefined)).toContain(".git/HEAD");
  });

  it("changes with a referenced file, its mode, or a new file in a copied folder", () => {
    const dir = baseRepo();
    const k = keyOf(dir);
    write(dir, "requirements.txt", "make==5\n");
    const k2 = keyOf(dir);
    expect(k2).not.toBe(k);
    write(dir, "tools/new.sh", "echo new\n");
    expect(keyOf(dir)).not.toBe(k2);
  });

  it("changes with the Dockerfile, the CLI version and the architecture", () => {
    const dir = baseRepo();
    const k = keyOf(dir);
    expect(keyOf(dir, undefined, "0.90.0")).not.toBe(k);
    expect(keyOf(dir, undefined, "0.89.0", "arm64")).not.toBe(k);
    write(dir, "Dockerfile", `${DOCKERFILE}RUN echo one more line\n`);
    expect(keyOf(dir)).not.toBe(k);
  });

  it("gives named configs separate keys", () => {
    const dir = baseRepo({
      ".devcontainer/python/devcontainer.json":
        '{ "build": { "dockerfile": "../../Dockerfile", "context": "../.." } }',
      ".devcontainer/go/devcontainer.json":
        '{ "build": { "dockerfile": "../../Dockerfile", "args": { "TOOLS": "go" } } }',
    });
    const keys = [keyOf(dir), keyOf(dir, "python"), keyOf(dir, "go")];
    expect(new Set(keys).size).toBe(3);
  });

  it("changes with a feature option, the feature order, a local feature's file and the lockfile", () => {
    const dir = baseRepo();
    const k = keyOf(dir);
    const config = (features: Record<string, unknown>) =>
      write(
        dir,
        ".devcontainer/devcontainer.json",
        JSON.stringify({
          build: { dockerfile: "../Dockerfile", context: "..", args: { A: "1", B: "2" } },
          features,
          postCreateCommand: "make setup",
        }),
      );
    config({ "ghcr.io/devcontainers/features/node:1": { version: "22" }, "./local-feature": {} });
    const option = keyOf(dir);
    expect(option).not.toBe(k);
    config({ "./local-feature": {}, "ghcr.io/devcontainers/features/node:1": { version: "20" } });
    const order = keyOf(dir);
    expect(order).not.toBe(k);
    config({ "ghcr.io/devcontainers/features/node:1": { version: "20" }, "./local-feature": {} });
    expect(keyOf(dir)).toBe(k);
    write(dir, ".devcontainer/local-feature/install.sh", "#!/bin/sh\necho changed\n");
    const local = keyOf(dir);
    expect(local).not.toBe(k);
    write(dir, ".devcontainer/devcontainer-lock.json", '{ "features": { "a": { "version": "1.0.0" } } }');
    const lock = keyOf(dir);
    expect(lock).not.toBe(local);
    write(dir, ".devcontainer/devcontainer-lock.json", '{ "features": { "a": { "version": "1.0.1" } } }');
    expect(keyOf(dir)).not.toBe(lock);
  });

  it("treats a feature's version shorthand like the version option", () => {
    const a = parseDevcontainerConfig('{ "image": "x", "features": { "f:1": "20" } }', {
      name: "default",
      file: ".devcontainer.json",
    });
    const b = parseDevcontainerConfig('{ "image": "x", "features": { "f:1": { "version": "20" } } }', {
      name: "default",
      file: ".devcontainer.json",
    });
    const dir = repo({});
    const key = (c: typeof a) =>
      computeCacheKey({ repoDir: dir, config: c, cliVersion: "1", architecture: "amd64" }).key;
    expect(key(a)).toBe(key(b));
  });

  it("changes with what the image label records (lifecycle commands), not with other properties", () => {
    const dir = repo({
      ".devcontainer.json": '{ "image": "debian", "postCreateCommand": "a", "forwardPorts": [] }',
    });
    const k = keyOf(dir);
    writeFileSync(
      join(dir, ".devcontainer.json"),
      '{ "image": "debian", "postCreateCommand": "b", "forwardPorts": [] }',
    );
    expect(keyOf(dir)).not.toBe(k);
    writeFileSync(
      join(dir, ".devcontainer.json"),
      '{ "image": "debian", "postCreateCommand": "a", "runArgs": ["-t"] }',
    );
    // forwardPorts is recorded in the label (an empty list vs. none), runArgs is not.
    const k3 = keyOf(dir);
    writeFileSync(
      join(dir, ".devcontainer.json"),
      '{ "image": "debian", "postCreateCommand": "a", "runArgs": [] }',
    );
    expect(keyOf(dir)).toBe(k3);
  });

  it("includes base image digests when the caller resolved them", () => {
    const dir = baseRepo();
    const config = readDevcontainerConfig(dir)!;
    const input = { repoDir: dir, config, cliVersion: "0.89.0", architecture: "amd64" };
    const a = computeCacheKey({ ...input, baseImageDigests: { "debian:trixie": "sha256:aa" } }).key;
    const b = computeCacheKey({ ...input, baseImageDigests: { "debian:trixie": "sha256:bb" } }).key;
    expect(a).not.toBe(b);
  });

  it("takes the whole context when a source cannot be resolved", () => {
    const dir = baseRepo({ Dockerfile: "FROM debian\nCOPY $UNKNOWN/x /x\n" });
    const config = readDevcontainerConfig(dir)!;
    const k = computeCacheKey({ repoDir: dir, config, cliVersion: "1", architecture: "amd64" });
    expect(k.files).toContain("src/main.py");
    expect(k.files).not.toContain("tools/debug.log");
  });

  describe("properties", () => {
    const argsArb = fc.dictionary(
      fc.string({ minLength: 1, maxLength: 8 }).filter((s) => s !== "__proto__"),
      fc.string({ maxLength: 8 }),
      { maxKeys: 6 },
    );

    it("is stable under reordering the keys of build args", () => {
      const dir = baseRepo();
      fc.assert(
        fc.property(
          argsArb.chain((args) => {
            const entries = Object.entries(args);
            return fc.tuple(
              fc.constant(entries),
              fc.shuffledSubarray(entries, { minLength: entries.length, maxLength: entries.length }),
            );
          }),
          ([entries, shuffled]) => {
            const text = (e: [string, string][]) =>
              JSON.stringify({
                build: { dockerfile: "../Dockerfile", context: "..", args: Object.fromEntries(e) },
              });
            write(dir, ".devcontainer/devcontainer.json", text(entries));
            const a = keyOf(dir);
            write(dir, ".devcontainer/devcontainer.json", text(shuffled));
            return keyOf(dir) === a;
          },
        ),
        { numRuns: 60 },
      );
    });

    it("is stable under whitespace and comment changes in devcontainer.json", () => {
      const dir = baseRepo();
      const tokens = [
        "{",
        '"build"',
        ":",
        "{",
        '"dockerfile"',
        ":",
        '"../Dockerfile"',
        ",",
        '"context"',
        ":",
        '".."',
        "}",
        ",",
        '"features"',
        ":",
        "{",
        '"a:1"',
        ":",
        "{",
        '"x"',
        ":",
        "true",
        "}",
        "}",
        "}",
      ];
      const trivia = fc.constantFrom(
        "",
        " ",
        "\n",
        "\t",
        "  \r\n",
        "// c\n",
        "/* c */",
        "/* multi\nline */ ",
      );
      write(dir, ".devcontainer/devcontainer.json", tokens.join(""));
      const k = keyOf(dir);
      fc.assert(
        fc.property(
          fc.array(trivia, { minLength: tokens.length + 1, maxLength: tokens.length + 1 }),
          (gaps) => {
            const text = gaps[0] + tokens.map((t, i) => t + gaps[i + 1]).join("");
            write(dir, ".devcontainer/devcontainer.json", text);
            return keyOf(dir) === k;
          },
        ),
        { numRuns: 100 },
      );
    });
  });
});

describe("image names", () => {
  const base = {
    namespace: "registry.example.com:5000/team",
    repo: "acme/widgets",
    config: "default",
    key: "a".repeat(64),
    branch: "feature/Login",
    defaultBranch: "main",
    trusted: true,
  };

  it("names the exact image and the cache tags", () => {
    const t = devcontainerTags(base);
    expect(t.exact).toBe(
      `registry.example.com:5000/team/acme/widgets/devcontainer:default-${"a".repeat(64)}`,
    );
    expect(t.defaultBranch).toBe(
      "registry.example.com:5000/team/acme/widgets/devcontainer:cache-default.main",
    );
    expect(t.branch).toMatch(/devcontainer:cache-default\.feature-login-[0-9a-f]{8}$/);
    expect(devcontainerTags({ ...base, trusted: false }).branch).toMatch(
      /:untrusted-default\.feature-login-/,
    );
  });

  it("keeps eStargz images (a lazy node's) in a repository of their own, which no overlay2 engine reads", () => {
    expect(layerFormatOf("stargz\n")).toBe("estargz");
    expect(layerFormatOf("overlay2")).toBe("zstd");
    const plain = devcontainerTags(base);
    const lazy = devcontainerTags({ ...base, layers: "estargz" });
    expect(plain.layers).toBe("zstd");
    expect(lazy.layers).toBe("estargz");
    expect(lazy.exact).toBe(
      `registry.example.com:5000/team/acme/widgets/devcontainer-estargz:default-${"a".repeat(64)}`,
    );
    for (const k of ["exact", "branch", "defaultBranch", "trustedBranch"] as const) {
      expect(lazy[k]).toContain("/devcontainer-estargz:");
      expect(plain[k]).toContain("/devcontainer:");
    }
  });

  it("never lets an untrusted branch or a look-alike name share a trusted tag", () => {
    const untrusted = devcontainerTags({ ...base, branch: "MAIN", trusted: false });
    expect(untrusted.branch).not.toBe(untrusted.defaultBranch);
    const mainUpper = devcontainerTags({ ...base, branch: "MAIN" });
    expect(mainUpper.branch).not.toBe(mainUpper.defaultBranch);
    expect(sanitizeTagPart("feature/x", 50)).not.toBe(sanitizeTagPart("feature-x", 50));
  });

  it("sanitizes into valid OCI names, within the tag length", () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.string(), (repoName, config, branch) => {
        const t = devcontainerTags({ ...base, repo: `${repoName}x`, config, branch });
        const [repository, exactTag] = [
          t.exact.slice(0, t.exact.lastIndexOf(":")),
          t.exact.slice(t.exact.lastIndexOf(":") + 1),
        ];
        for (const tag of [
          exactTag,
          ...[t.branch, t.defaultBranch].map((x) => x.slice(x.lastIndexOf(":") + 1)),
        ]) {
          expect(tag).toMatch(/^[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,127}$/);
        }
        for (const c of repository.split("/").slice(1))
          expect(c).toMatch(/^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*$/);
      }),
      { numRuns: 200 },
    );
    expect(sanitizeRepositoryComponent("Widgets")).toMatch(/^widgets-[0-9a-f]{8}$/);
    expect(sanitizeRepositoryComponent("widgets")).toBe("widgets");
    expect(() => devcontainerRepository("Bad Namespace", "x")).toThrow(/not a valid image name/);
  });
});
