// The files contextHash counts are the files Docker sends: for .dockerignore files with the cases
// a hand-written matcher gets wrong (`./` prefixes, `[a-z]` classes, `\` escapes, `.git`, `!`
// exceptions below an excluded folder), the real `docker build` copies the context into a
// `FROM scratch` image (nothing to pull), and the image's files are compared with contextFiles.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { contextFiles } from "../../contract/build/context-hash";
import { run } from "../../lib/process";

const TAG = `berth-test-dockerignore-${process.pid}`;

function context(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "berth-dockerignore-"));
  for (const [p, c] of Object.entries({ Dockerfile: "FROM scratch\nCOPY . /ctx/\n", ...files })) {
    mkdirSync(join(dir, p, ".."), { recursive: true });
    writeFileSync(join(dir, p), c);
  }
  return dir;
}

/** The files `docker build` put under /ctx, relative to it, sorted. */
async function sentByDocker(dir: string): Promise<string[]> {
  await run("docker", ["build", "-q", "-t", TAG, dir], { timeoutMs: 120_000 });
  const id = (await run("docker", ["create", TAG, "/none"])).stdout.trim();
  try {
    const list = await run("sh", ["-c", `docker export ${id} | tar -t`]);
    return list.stdout
      .split("\n")
      .filter((l) => l.startsWith("ctx/") && !l.endsWith("/"))
      .map((l) => l.slice("ctx/".length))
      .sort();
  } finally {
    await run("docker", ["rm", id], { allowFailure: true });
  }
}

describe(".dockerignore as the real docker build reads it", () => {
  afterAll(async () => {
    await run("docker", ["rmi", "-f", TAG], { allowFailure: true });
  });

  const cases: Record<string, Record<string, string>> = {
    "./ prefixes and a leading /": {
      ".dockerignore": "./node_modules\n/build\n",
      "node_modules/x/index.js": "x",
      "build/out.js": "o",
      "src/node_modules/kept.js": "k",
      "src/main.js": "m",
    },
    "[a-z] classes and \\ escapes": {
      ".dockerignore": "log[0-9].txt\nfile\\*.txt\n",
      "log7.txt": "1",
      "logx.txt": "2",
      "file*.txt": "3",
      "fileX.txt": "4",
    },
    "case counts (Docker matches case-sensitively)": {
      ".dockerignore": "logs/[a-z].log\nREADME*\n",
      "logs/a.log": "a",
      "logs/B.log": "b",
      "README.md": "r",
      "readme.txt": "r",
    },
    ".git kept unless named": {
      "a.txt": "a",
      ".git/HEAD": "ref: refs/heads/main\n",
      ".dockerignore": "*.md\n",
      "notes.md": "n",
    },
    "! exceptions below an excluded folder, ** and comments": {
      ".dockerignore": "# cache/keep.txt\ncache\n!cache/keep.txt\n**/*.tmp\n",
      "cache/drop.txt": "d",
      "cache/keep.txt": "k",
      "a/b/c.tmp": "t",
      "a/b/c.txt": "c",
    },
  };

  for (const [name, files] of Object.entries(cases)) {
    it(name, async () => {
      const dir = context(files);
      expect(contextFiles(dir)).toEqual(await sentByDocker(dir));
    });
  }
});
