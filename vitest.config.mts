import { defineConfig } from "vitest/config";

// Two projects: `unit` (pure logic, Pulumi mocks; fast) and `system` (the real Pulumi engine,
// Docker, the registry, HAProxy; run one file at a time so they never fight over Docker).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: [
            "{components,contract,node-agent,policies,cli,lib,stacks}/**/*.test.ts",
            "test/unit/**/*.test.ts",
          ],
          environment: "node",
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
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
