// Why a vitest run failed, from its captured output (npm test tees it to .berth-test/vitest.log):
// the "Failed Tests", "Failed Suites", "Unhandled Errors" and "Unhandled Rejection" sections and
// the summary after them, so that the cause shows at the end of CI's log, below the time table.
// Vitest exits 1 on an unhandled error even when every test passed; the table then reads "passed".

// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI colour codes are control characters
const ANSI = /\u001b\[[0-9;]*m/g;
const SECTION = /⎯ (Failed Tests|Failed Suites|Unhandled Errors?|Unhandled Rejection)\b/;

/**
 * The lines of `log` that say why the run failed: from the first failure section to the end of
 * the summary, at most `maxLines` of them (the first ones, a line saying how many were left out,
 * then the summary); the last `tailLines` lines when the log has no such section (a crash before any test, a
 * bad config).
 */
export function vitestFailureReport(log: string, maxLines = 200, tailLines = 60): string[] {
  const lines = log.replace(ANSI, "").replace(/\r/g, "").split("\n");
  while (lines.length > 0 && lines[lines.length - 1]?.trim() === "") lines.pop();
  const start = lines.findIndex((l) => SECTION.test(l));
  if (start < 0) return lines.slice(-tailLines);
  const section = lines.slice(start);
  if (section.length <= maxLines) return section;
  const summary = section.findIndex((l) => /^\s*Test Files\s/.test(l));
  const tail = summary > maxLines ? section.slice(summary) : [];
  const cut = section.length - maxLines - tail.length;
  return [...section.slice(0, maxLines), `… ${cut} more lines in the full log`, ...tail];
}
