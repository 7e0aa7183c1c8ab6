// Docker Compose is the reference: on every file berth accepts (its own fixtures, one per field
// group, and the compose-go corpus), berth's manifest agrees with `docker compose config --format
// json` field by field for what the manifest keeps. Both read the same project folder (its `.env`,
// env_file, extends, include) and the same variables; the process environment is read by neither.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { loadCompose } from "../../contract/compose/load";
import { formatProblem } from "../../contract/compose/problem";
import { diskProjectFiles } from "../../contract/compose/project-files";
import { run } from "../../lib/process";
import { compareManifest } from "./support/compose-reference";

const FIXTURES = path.join(__dirname, "fixtures", "compose-reference");
const CORPUS = path.resolve(__dirname, "..", "..", "..", "shared", "corpus", "compose-go");
/** The stack's variables: they win over the project's .env on both sides. */
const VARIABLES = { STACK_VAR: "from-stack" };

interface Case {
  file: string;
  profiles?: string[];
}

/** berth's own fixtures: each must be accepted (include and extends pieces are loaded as they are, too). */
const OWN: Case[] = [
  { file: "basics.yaml" },
  { file: "runtime.yaml" },
  { file: "env-file.yaml" },
  { file: "profiles.yaml" },
  { file: "profiles.yaml", profiles: ["debug"] },
  { file: "profiles.yaml", profiles: ["ops", "debug"] },
  { file: "secrets-configs.yaml" },
  { file: "build.yaml" },
  { file: "extends.yaml" },
  { file: "replicas.yaml" },
  { file: "hooks.yaml" },
  { file: "label-file.yaml" },
  { file: "common.yaml" },
  { file: "included.yaml" },
];

function yamlFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) return yamlFiles(p);
    return /\.ya?ml$/.test(name) ? [p] : [];
  });
}

function berth(file: string, profiles: string[] = []) {
  const projectDir = path.dirname(file);
  return loadCompose(readFileSync(file, "utf8"), {
    file: path.basename(file),
    projectDir,
    files: diskProjectFiles(projectDir),
    variables: VARIABLES,
    profiles,
  });
}

async function compose(file: string, profiles: string[] = []): Promise<unknown> {
  const r = await run(
    "docker",
    [
      "compose",
      "--project-directory",
      path.dirname(file),
      "-f",
      file,
      ...profiles.flatMap((p) => ["--profile", p]),
      "config",
      "--format",
      "json",
    ],
    { isolatedEnv: true, env: VARIABLES, allowFailure: true, timeoutMs: 30_000 },
  );
  if (r.exitCode !== 0) throw new Error(`docker compose config refused ${file}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

async function agree(file: string, profiles: string[] = []): Promise<string[]> {
  const b = berth(file, profiles);
  if (!b.ok) throw new Error(`berth refused ${file}:\n${b.problems.map(formatProblem).join("\n")}`);
  return compareManifest(b.manifest, await compose(file, profiles), path.dirname(file));
}

describe("berth's manifest agrees with docker compose config", () => {
  for (const c of OWN) {
    it(`${c.file}${c.profiles ? ` with profiles ${c.profiles.join(", ")}` : ""}`, async () => {
      expect(await agree(path.join(FIXTURES, c.file), c.profiles)).toEqual([]);
    });
  }

  const corpus = [
    ...yamlFiles(path.join(CORPUS, "loader", "testdata")),
    ...yamlFiles(path.join(CORPUS, "cli", "testdata")),
  ].sort();
  const accepted = corpus.filter((f) => berth(f).ok);

  it("on the compose-go corpus, every file berth accepts", async () => {
    expect(accepted.length, `compose-go corpus under ${CORPUS}`).toBeGreaterThanOrEqual(10);
    const diffs: string[] = [];
    for (const f of accepted) {
      for (const d of await agree(f)) diffs.push(`${path.relative(CORPUS, f)}: ${d}`);
    }
    expect(diffs).toEqual([]);
  });

  it("finds a disagreement when there is one", async () => {
    const file = path.join(FIXTURES, "basics.yaml");
    const b = berth(file);
    if (!b.ok) throw new Error("basics.yaml refused");
    const web = b.manifest.services.web;
    if (!web) throw new Error("no web");
    web.stopGracePeriodMs = 1;
    web.environment.PORT = { value: "9999" };
    expect(compareManifest(b.manifest, await compose(file), FIXTURES)).toEqual([
      'web.environment: berth {"DEFAULTED":"fallback","EMPTY":"","PORT":"9999","PRICE":"$5"}, compose {"DEFAULTED":"fallback","EMPTY":"","PORT":"8080","PRICE":"$5"}',
      "web.stop_grace_period: berth 1, compose 90000",
    ]);
  });
});
