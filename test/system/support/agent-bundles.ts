// Agent bundles of other versions for the upgrade tests: the same code as dist/berth-agent.js,
// built with esbuild's API and the flags of scripts/build.sh, stamped with another version
// (node-agent/version.ts reads BERTH_AGENT_BUILD_VERSION), and hand-written broken ones.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";
import { REPO_ROOT } from "./pulumi-project";

/** The agent's code as one file, reporting `version`. */
export async function agentBundleOf(version: string): Promise<string> {
  const r = await build({
    entryPoints: [join(REPO_ROOT, "node-agent", "cli", "bin.ts")],
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    logLevel: "warning",
    legalComments: "none",
    alias: { "jsonc-parser": join(REPO_ROOT, "node_modules", "jsonc-parser", "lib", "esm", "main.js") },
    external: ["@devcontainers/cli"],
    minifyWhitespace: true,
    define: { BERTH_AGENT_BUILD_VERSION: JSON.stringify(version) },
    write: false,
  });
  const out = r.outputFiles[0];
  if (!out) throw new Error("esbuild wrote no bundle");
  return out.text;
}

/** The bundle `npm run build` made (the version of the source, node-agent/version.ts). */
export function builtAgentBundle(): string {
  return readFileSync(join(REPO_ROOT, "dist", "berth-agent.js"), "utf8");
}

/** Says its version, then fails to run: the new agent that never reports. */
export function crashingBundle(version: string): string {
  return `if (process.argv[2] === "version") { console.log(${JSON.stringify(version)}); process.exit(0); }
process.stderr.write("berth-agent: cannot start: this bundle is broken on purpose\\n");
process.exit(1);
`;
}

/** Says its version, then runs on and never reports (nor exits): the new agent that hangs. */
export function hangingBundle(version: string): string {
  return `if (process.argv[2] === "version") { console.log(${JSON.stringify(version)}); process.exit(0); }
process.stderr.write("berth-agent: stuck on purpose: this bundle never reports\\n");
setInterval(() => {}, 60000);
`;
}

/** Not even JavaScript: refused before anything is swapped. */
export function unloadableBundle(): string {
  return "this is not ) javascript\n";
}
