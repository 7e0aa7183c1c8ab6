// Prints the per-file times of a vitest run from .berth-test/file-times.json (written by
// scripts/file-times-reporter.ts during `npm test`): slowest first, each file's whole time (import,
// tests and hooks) with its hooks' share, its status and test count; then the totals per tier and
// the wall time. Usage: tsx scripts/test-times.ts [FILE-TIMES.json] [--top N]
import { readFileSync } from "node:fs";
import type { FileTimes } from "./file-times-reporter";

const args = process.argv.slice(2);
const topAt = args.indexOf("--top");
const top = topAt >= 0 ? Number(args[topAt + 1]) : Number.POSITIVE_INFINITY;
const file =
  args.find((a, i) => !a.startsWith("--") && !(topAt >= 0 && i === topAt + 1)) ??
  ".berth-test/file-times.json";
const report = JSON.parse(readFileSync(file, "utf8")) as FileTimes;
const rows = [...report.files].sort((a, b) => b.seconds - a.seconds);
const tier = (f: string) => (f.startsWith("test/system/") ? "system" : "unit");

console.log(`\nper-file times (${file}), slowest first; a file's time holds its import and hooks:`);
console.log(`${"seconds".padStart(8)}  ${"hooks".padStart(7)}  ${"status".padEnd(7)} tests  file`);
for (const r of rows.slice(0, top)) {
  console.log(
    `${r.seconds.toFixed(1).padStart(8)}  ${r.hooksSeconds.toFixed(1).padStart(7)}  ${r.state.padEnd(7)} ${String(r.tests).padStart(5)}  ${r.file}`,
  );
}
for (const t of ["unit", "system"]) {
  const these = rows.filter((r) => tier(r.file) === t);
  const sum = these.reduce((s, r) => s + r.seconds, 0);
  const hooks = these.reduce((s, r) => s + r.hooksSeconds, 0);
  console.log(
    `${t}: ${these.length} files, ${sum.toFixed(0)} s summed over files (hooks ${hooks.toFixed(0)} s)`,
  );
}
console.log(`vitest wall time: ${((report.endTime - report.startTime) / 1000).toFixed(0)} s`);
