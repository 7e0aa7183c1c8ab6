import { defineConfig } from "vitest/config";

// Two tiers, one after the other:
// - `unit`: pure logic, Pulumi mocks, small local servers; no Docker. `npm run test:unit`. Its files
//   share their worker's modules (isolate: false): importing the program, Pulumi and zod once per
//   worker instead of once per file takes the tier from ~90 s of CPU to ~25 s. So a unit test file
//   leaves no global state behind (process.env set in a try/finally, Pulumi mocks set by each file
//   that declares resources; stacks/testdata/program.ts imports the program afresh).
// - `system`: the real Pulumi engine, Docker, the registry, HAProxy, restic; one file at a time.
//   The bundles are built once before them (test/system/support/build-once.ts).
// `npm test` writes per-file times to .berth-test/vitest.json and prints them at the end.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: [
            "{components,contract,node-agent,policies,cli,lib,stacks}/**/*.test.ts",
            "test/unit/**/*.test.ts",
            "scripts/**/*.test.ts",
          ],
          environment: "node",
          sequence: { groupOrder: 0 },
          isolate: false,
          // ESM-only, and imports its JSON schemas without import attributes, which Node refuses:
          // let Vite transform it (test/unit/workflows.test.ts).
          server: { deps: { inline: ["@actions/workflow-parser"] } },
        },
      },
      {
        test: {
          name: "system",
          include: ["test/system/**/*.test.ts"],
          environment: "node",
          sequence: { groupOrder: 1 },
          globalSetup: ["test/system/support/build-once.ts"],
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
