import { describe, expect, it } from "vitest";
import type { TestModule } from "vitest/node";
import { fileTime, runningText } from "./file-times-reporter";

/** What fileTime reads of a module: its diagnostic, its tests' durations, its path and project. */
function moduleOf(o: { collectMs: number; durationMs: number; testsMs: number[] }): TestModule {
  const tests = o.testsMs.map((duration) => ({ diagnostic: () => ({ duration }) }));
  return {
    moduleId: "/repo/test/system/a.test.ts",
    project: { name: "system" },
    state: () => "passed",
    diagnostic: () => ({ collectDuration: o.collectMs, duration: o.durationMs }),
    children: { allTests: () => tests[Symbol.iterator]() },
  } as unknown as TestModule;
}

describe("fileTime", () => {
  it("counts a file's import and hooks, not only its tests", () => {
    // A beforeAll of 14 s (an image built, an agent started) and 8.6 s of tests.
    const t = fileTime(moduleOf({ collectMs: 400, durationMs: 22_600, testsMs: [600, 8_000] }), "/repo");
    expect(t).toEqual({
      file: "test/system/a.test.ts",
      project: "system",
      state: "passed",
      tests: 2,
      seconds: 23,
      importSeconds: 0.4,
      hooksSeconds: 14,
    });
  });

  it("a file whose tests did not run (skipped, or failed in beforeAll) has no negative hooks", () => {
    const t = fileTime(moduleOf({ collectMs: 100, durationMs: 50, testsMs: [80] }), "/repo");
    expect(t.hooksSeconds).toBe(0);
    expect(t.seconds).toBe(0.15);
  });
});

describe("runningText", () => {
  it("lists the files started and not finished, oldest first, with their start", () => {
    const running = new Map([
      ["unit: contract/payload/properties.test.ts", Date.parse("2026-12-07T09:00:05Z")],
      ["unit: stacks/config.test.ts", Date.parse("2026-12-07T09:00:01Z")],
    ]);
    expect(runningText(running)).toBe(
      "2026-12-07T09:00:01.000Z unit: stacks/config.test.ts\n2026-12-07T09:00:05.000Z unit: contract/payload/properties.test.ts\n",
    );
    expect(runningText(new Map())).toBe("");
  });
});
