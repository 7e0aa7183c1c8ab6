// Prints why a vitest run failed (scripts/vitest-failure-report.ts) from its captured output.
// scripts/test.sh runs it after the time table when vitest exits non-zero.
// Usage: tsx scripts/vitest-failure.ts LOG EXIT_STATUS
import { readFileSync } from "node:fs";
import { vitestFailureReport } from "./vitest-failure-report";

const [file, status] = process.argv.slice(2);
if (!file) {
  console.error("usage: tsx scripts/vitest-failure.ts LOG EXIT_STATUS");
  process.exit(2);
}
console.log(`\nvitest exited with status ${status ?? "?"}; why, from ${file}:\n`);
console.log(vitestFailureReport(readFileSync(file, "utf8")).join("\n"));
