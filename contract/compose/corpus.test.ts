// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Compose interpolation syntax in test data
// compose-go's loader and CLI test data (../shared/corpus/compose-go beside the clone): every
// file is accepted or rejected with clear problems, and none crashes.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { manifestSchema } from "../manifest/schema";
import { loadCompose } from "./load";
import type { Problem } from "./problem";
import { diskProjectFiles } from "./project-files";

const repoRoot = path.resolve(__dirname, "..", "..");
const CORPUS = path.resolve(repoRoot, "..", "shared", "corpus", "compose-go");

function yamlFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) return yamlFiles(p);
    return /\.ya?ml$/.test(name) ? [p] : [];
  });
}

const files = [
  ...yamlFiles(path.join(CORPUS, "loader", "testdata")),
  ...yamlFiles(path.join(CORPUS, "cli", "testdata")),
].sort();

function load(rel: string) {
  const file = path.join(CORPUS, rel);
  const projectDir = path.dirname(file);
  const r = loadCompose(readFileSync(file, "utf8"), {
    file: rel,
    projectDir,
    files: diskProjectFiles(projectDir),
  });
  // What the loader makes is a manifest by the zod schema itself, not only by its type.
  if (r.ok) expect(manifestSchema.safeParse(r.manifest).error?.issues ?? [], rel).toEqual([]);
  return r;
}

function messages(rel: string): string[] {
  const r = load(rel);
  if (r.ok) throw new Error(`${rel} was accepted`);
  return r.problems.map((p) => `${p.path}: ${p.message}`);
}

describe("compose-go corpus", () => {
  it("has the corpus", () => {
    // CI and every session have the team's shared/ folder beside the checkout.
    expect(
      files.length,
      `no compose-go corpus under ${CORPUS}: the shared/ folder must sit beside the checkout`,
    ).toBeGreaterThanOrEqual(30);
  });

  for (const file of files) {
    const rel = path.relative(CORPUS, file);
    it(`${rel}: accepted, or rejected with clear problems`, () => {
      const r = load(rel);
      if (r.ok) {
        expect(Object.keys(r.manifest.services).length).toBeGreaterThan(0);
        return;
      }
      expect(r.problems.length).toBeGreaterThan(0);
      for (const p of r.problems as Problem[]) {
        // The file itself, or a file it includes or extends (named relative to its folder).
        if (p.file !== rel) expect(existsSync(path.join(path.dirname(file), p.file)), p.file).toBe(true);
        expect(p.line).toBeGreaterThanOrEqual(1);
        expect(p.col).toBeGreaterThanOrEqual(1);
        expect(p.path).not.toBe("");
        expect(p.message.length).toBeGreaterThan(10);
        expect(p.message).not.toMatch(/internal/);
      }
    });
  }

  it("names the depends_on cycle", () => {
    expect(messages("loader/testdata/compose-depends-on-cycle.yaml")).toEqual([
      "services.service3.depends_on[0]: dependency cycle: service1 -> service2 -> service3 -> service1",
    ]);
  });

  it("refuses the self-dependency", () => {
    expect(messages("loader/testdata/compose-depends-on-self.yaml")).toEqual([
      "services.service1.depends_on[0]: service service1 depends on itself",
    ]);
  });

  it("says the empty file is empty", () => {
    expect(messages("loader/testdata/empty.yaml")).toEqual(["(top level): the file is empty"]);
  });

  it("resolves local extends, and locates what it refuses in the file it comes from", () => {
    expect(messages("loader/testdata/compose-test-extends.yaml")).toEqual([
      "services.importer.container_name: container_name is not allowed: berth names containers per environment and release",
      "services.importer.volumes[0]: bind mounts are not allowed: /opt/data is a path on the host",
    ]);
    const r = load("loader/testdata/compose-test-extends.yaml");
    expect(r.ok ? [] : r.problems.map((p) => `${p.file}:${p.line}`)).toEqual([
      "subdir/compose-test-extends-imported.yaml:4",
      "subdir/compose-test-extends-imported.yaml:8",
    ]);
  });

  it("refuses remote extends, saying it is remote", () => {
    expect(messages("loader/testdata/remote/nested/compose.yaml")).toEqual([
      "services.foo.extends.file: extends of a remote file (remote:nested/compose-nested.yaml) is not allowed: berth never fetches Compose files from the network",
    ]);
  });

  it("resolves include, and names an include cycle", () => {
    const r = load("loader/testdata/compose-include.yaml");
    expect(r.ok ? [] : r.problems.map((p) => p.file)).toEqual([
      "subdir/compose-test-extends-imported.yaml",
      "subdir/compose-test-extends-imported.yaml",
    ]);
    expect(messages("loader/testdata/compose-include-cycle.yaml")).toEqual([
      "include[0]: include cycle: compose-include-cycle.yaml -> compose-include-cycle.yaml",
    ]);
  });

  it("refuses the remote build context and the bind mounts", () => {
    expect(messages("loader/testdata/compose-test-extends-with-context-url-imported.yaml")[0]).toContain(
      "a remote build context (https://github.com/docker/compose.git) is not allowed",
    );
    expect(messages("cli/testdata/simple/compose-with-paths.yaml")).toEqual([
      "services.test.volumes[0].type: bind mounts are not allowed: C:\\docker\\project is a path on the host",
      "services.test.volumes[1].type: bind mounts are not allowed: ./relative is a path on the host",
      "services.test.volumes[2]: bind mounts are not allowed: ./relative2 is a path on the host",
    ]);
    expect(messages("loader/testdata/extends/interpolated.yaml")).toEqual([
      'services.foo.volumes[0]: bind mounts are not allowed: /dev/null is a path on the host: the variable in "${SOURCE:-/dev/null}:/tmp/foo:ro" expands to it',
    ]);
  });

  it("accepts the plain ones", () => {
    for (const rel of ["cli/testdata/simple/compose.yaml", "loader/testdata/extends/sibling.yaml"]) {
      expect(load(rel).ok, rel).toBe(true);
    }
  });
});
