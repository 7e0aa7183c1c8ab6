// The import rule as data (docs/ARCHITECTURE.md): which top-level folders a folder may import,
// and who may import Pulumi. Pure; imports.test.ts feeds it every import of the project.

export interface SourceImport {
  /** The importing file, relative to the repository root (`node-agent/agent.ts`). */
  from: string;
  line: number;
  /** As written (`../config`, `zod`). */
  specifier: string;
  /** For a relative import, the imported path relative to the root; else the specifier. */
  target: string;
  relative: boolean;
}

/** The project folders each folder may import, besides itself. */
export const MAY_IMPORT: Readonly<Record<string, readonly string[]>> = {
  lib: [],
  contract: ["lib"],
  "node-agent": ["contract", "lib"],
  cli: ["contract", "lib"],
  policies: ["contract", "lib"],
  components: ["contract", "lib"],
  stacks: ["components", "contract", "lib"],
};

const PULUMI_FOLDERS = new Set(["stacks", "components", "policies"]);

const folderOf = (path: string) => path.split("/")[0] ?? "";

/** One line per import against the grain: `file:line imports target: the rule`. */
export function importViolations(imports: readonly SourceImport[]): string[] {
  const out: string[] = [];
  for (const i of imports) {
    const from = folderOf(i.from);
    const allowed = MAY_IMPORT[from];
    if (!allowed) continue;
    if (!i.relative) {
      if (/^@pulumi\//.test(i.specifier) && !PULUMI_FOLDERS.has(from)) {
        out.push(
          `${i.from}:${i.line} imports ${i.specifier}: only stacks/, components/ and policies/ import Pulumi`,
        );
      }
      continue;
    }
    const to = folderOf(i.target);
    if (to === from || allowed.includes(to)) continue;
    // Tests beside the code may use the system tests' harnesses (a real S3 server, say).
    if (i.from.endsWith(".test.ts") && to === "test") continue;
    if (!(to in MAY_IMPORT) && !["test", "bench", "scripts"].includes(to)) continue; // package.json, dist/
    out.push(
      `${i.from}:${i.line} imports ${i.target}: ${from}/ may import only ${[from, ...allowed].map((f) => `${f}/`).join(", ")}`,
    );
  }
  return out;
}
