import { describe, expect, it } from "vitest";
import { vitestFailureReport } from "./vitest-failure-report";

const RULE = "⎯".repeat(7);
// Vitest 4's default reporter, colours included, for a run whose tests all passed but which
// caught an unhandled rejection (it exits 1).
const UNHANDLED = [
  "",
  " \u001b[32m✓\u001b[39m test/system/a.test.ts (2 tests) 52ms",
  "",
  `\u001b[31m${RULE}\u001b[39m\u001b[1m\u001b[41m Unhandled Errors \u001b[49m\u001b[22m\u001b[31m${RULE}\u001b[39m`,
  "",
  "Vitest caught 1 unhandled error during the test run.",
  "",
  `\u001b[31m${RULE}\u001b[39m\u001b[1m\u001b[41m Unhandled Rejection \u001b[49m\u001b[22m\u001b[31m${RULE}\u001b[39m`,
  "\u001b[31m\u001b[1mError\u001b[22m: boom later\u001b[39m",
  " ❯ Timeout._onTimeout a.test.ts:2:56",
  'This error originated in "a.test.ts" test file.',
  "",
  " Test Files  1 passed (1)",
  "      Tests  2 passed (2)",
  "     Errors  1 error",
  "   Duration  475ms",
  "",
  "",
].join("\n");

describe("vitestFailureReport", () => {
  it("shows an unhandled rejection of a run whose tests all passed, without colours", () => {
    const report = vitestFailureReport(UNHANDLED);
    expect(report[0]).toBe(`${RULE} Unhandled Errors ${RULE}`);
    expect(report).toContain("Error: boom later");
    expect(report).toContain("     Errors  1 error");
    expect(report.at(-1)).toBe("   Duration  475ms");
    expect(report.join("\n")).not.toContain("\u001b[");
  });

  it("starts at the first failed test", () => {
    const log = [
      "x.test.ts (1 test | 1 failed)",
      `${RULE} Failed Tests 1 ${RULE}`,
      " FAIL  x.test.ts > fails",
    ];
    expect(vitestFailureReport(log.join("\n"))).toEqual(log.slice(1));
  });

  it("keeps the first lines and the summary of a long section", () => {
    const body = Array.from({ length: 50 }, (_, i) => `line ${i}`);
    const log = [`${RULE} Failed Suites 3 ${RULE}`, ...body, " Test Files  3 failed (9)", "   Duration  1s"];
    expect(vitestFailureReport(log.join("\n"), 10)).toEqual([
      ...log.slice(0, 10),
      "… 41 more lines in the full log",
      " Test Files  3 failed (9)",
      "   Duration  1s",
    ]);
  });

  it("falls back to the last lines when there is no failure section", () => {
    const log = Array.from({ length: 100 }, (_, i) => `line ${i}`).join("\n");
    expect(vitestFailureReport(log, 200, 3)).toEqual(["line 97", "line 98", "line 99"]);
  });
});
