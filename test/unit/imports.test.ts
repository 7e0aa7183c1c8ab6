// Imports run one way (docs/ARCHITECTURE.md, "The import rule"):
//   stacks → components → contract → lib;  node-agent, cli, policies → contract → lib.
// Every TypeScript file of those folders, tests beside the code included, is read with
// TypeScript's own pre-processor (imports, re-exports, `require`, `import()`), and an import
// against the grain fails with the file, the line and the rule it breaks.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { importViolations, type SourceImport } from "./import-rule";

const ROOT = join(__dirname, "..", "..");
const FOLDERS = ["lib", "contract", "node-agent", "cli", "policies", "components", "stacks"];

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = join(dir, e.name);
    if (e.isDirectory()) return e.name === "node_modules" ? [] : tsFiles(full);
    return e.name.endsWith(".ts") ? [full] : [];
  });
}

function importsOf(file: string): SourceImport[] {
  const text = readFileSync(file, "utf8");
  const from = relative(ROOT, file).split(sep).join("/");
  return ts.preProcessFile(text, true, true).importedFiles.map((r) => {
    const isRelative = r.fileName.startsWith(".");
    const target = isRelative
      ? relative(ROOT, join(dirname(file), r.fileName))
          .split(sep)
          .join("/")
      : r.fileName;
    const line = text.slice(0, r.pos).split("\n").length;
    return { from, line, specifier: r.fileName, target, relative: isRelative };
  });
}

describe("the import rule", () => {
  it("holds for every file of the project", () => {
    const all = FOLDERS.flatMap((f) => tsFiles(join(ROOT, f))).flatMap(importsOf);
    expect(all.length).toBeGreaterThan(500);
    expect(importViolations(all)).toEqual([]);
  });

  it("names each kind of import against the grain", () => {
    const at = (from: string, specifier: string, target = specifier): SourceImport => ({
      from,
      line: 3,
      specifier,
      target,
      relative: specifier.startsWith("."),
    });
    expect(
      importViolations([
        at("contract/channel/x.ts", "../../components/runtime/channel", "components/runtime/channel"),
        at("contract/channel/x.ts", "../../node-agent/config", "node-agent/config"),
        at("node-agent/workspace/x.ts", "../../components/runtime/y", "components/runtime/y"),
        at("components/runtime/x.ts", "../../node-agent/apply/y", "node-agent/apply/y"),
        at("lib/x.ts", "../contract/ids", "contract/ids"),
        at("cli/x.ts", "@pulumi/pulumi"),
        at("contract/x.test.ts", "../components/y", "components/y"),
      ]),
    ).toEqual([
      "contract/channel/x.ts:3 imports components/runtime/channel: contract/ may import only contract/, lib/",
      "contract/channel/x.ts:3 imports node-agent/config: contract/ may import only contract/, lib/",
      "node-agent/workspace/x.ts:3 imports components/runtime/y: node-agent/ may import only node-agent/, contract/, lib/",
      "components/runtime/x.ts:3 imports node-agent/apply/y: components/ may import only components/, contract/, lib/",
      "lib/x.ts:3 imports contract/ids: lib/ may import only lib/",
      "cli/x.ts:3 imports @pulumi/pulumi: only stacks/, components/ and policies/ import Pulumi",
      "contract/x.test.ts:3 imports components/y: contract/ may import only contract/, lib/",
    ]);
    expect(
      importViolations([
        at("stacks/index.ts", "../components/release/release", "components/release/release"),
        at("components/x.ts", "@pulumi/pulumi"),
        at("node-agent/x.ts", "../contract/ids", "contract/ids"),
        at(
          "components/runtime/x.test.ts",
          "../../../test/system/support/versitygw",
          "test/system/support/versitygw",
        ),
      ]),
    ).toEqual([]);
  });
});
