// Prints the per-file times of a vitest run from its JSON report (npm test writes it to
// .berth-test/vitest.json): slowest first, with each file's status and test count, then the
// totals per tier. Usage: tsx scripts/test-times.ts REPORT.json [--top N]
import { readFileSync } from "node:fs";
import { relative } from "node:path";

interface FileResult {
  name: string;
  status: string;
  startTime: number;
  endTime: number;
  assertionResults: { status: string }[];
}

const [file, ...rest] = process.argv.slice(2);
if (!file) {
  console.error("usage: tsx scripts/test-times.ts REPORT.json [--top N]");
  process.exit(2);
}
const top = rest[0] === "--top" ? Number(rest[1]) : Number.POSITIVE_INFINITY;
const report = JSON.parse(readFileSync(file, "utf8")) as { testResults: FileResult[]; startTime: number };
const rows = report.testResults
  .map((r) => ({
    file: relative(process.cwd(), r.name),
    seconds: (r.endTime - r.startTime) / 1000,
    status: r.status,
    tests: r.assertionResults.length,
  }))
  .sort((a, b) => b.seconds - a.seconds);
const tier = (f: string) => (f.startsWith("test/system/") ? "system" : "unit");
const wall = (Math.max(...report.testResults.map((r) => r.endTime)) - report.startTime) / 1000;

console.log(`\nper-file times (${file}), slowest first:`);
for (const r of rows.slice(0, top)) {
  console.log(
    `${r.seconds.toFixed(1).padStart(8)} s  ${r.status.padEnd(6)} ${String(r.tests).padStart(4)}  ${r.file}`,
  );
}
for (const t of ["unit", "system"]) {
  const these = rows.filter((r) => tier(r.file) === t);
  const sum = these.reduce((s, r) => s + r.seconds, 0);
  console.log(`${t}: ${these.length} files, ${sum.toFixed(0)} s summed over files`);
}
console.log(`vitest wall time: ${wall.toFixed(0)} s`);
