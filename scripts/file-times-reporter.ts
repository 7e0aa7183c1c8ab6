// A vitest reporter for `npm test`: each test file's whole time, written to
// .berth-test/file-times.json for scripts/test-times.ts. The JSON reporter's startTime..endTime of
// a file spans only its tests (from the first test's start to the last one's end), so what a
// file's beforeAll/afterAll do (build an image, start an agent or a second engine, `pulumi stack
// init`, destroy) counted nowhere: in a one-at-a-time run those hooks were most of the gap between
// the summed file times and the wall time. Here a file's time is its module's duration (tests and
// hooks) plus its import, with the hooks' share shown apart.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import type { Reporter, TestModule, Vitest } from "vitest/node";

export interface FileTime {
  /** Relative to the root, e.g. test/system/local-stack.test.ts. */
  file: string;
  project: string;
  state: string;
  tests: number;
  /** Import, tests and hooks. */
  seconds: number;
  /** Importing the file (its dependencies, its suite callbacks). */
  importSeconds: number;
  /** beforeAll/afterAll/beforeEach/afterEach: the module's duration less its tests'. */
  hooksSeconds: number;
}

export interface FileTimes {
  /** When the run started and ended (ms since the epoch). */
  startTime: number;
  endTime: number;
  files: FileTime[];
}

const s = (ms: number) => Math.round(ms) / 1000;

/** One file's times from its module (vitest's diagnostic of the module and of each test). */
export function fileTime(m: TestModule, root: string): FileTime {
  const d = m.diagnostic();
  const tests = [...m.children.allTests()];
  const testsMs = tests.reduce((sum, t) => sum + (t.diagnostic()?.duration ?? 0), 0);
  return {
    file: relative(root, m.moduleId),
    project: m.project.name,
    state: m.state(),
    tests: tests.length,
    seconds: s(d.collectDuration + d.duration),
    importSeconds: s(d.collectDuration),
    hooksSeconds: s(Math.max(0, d.duration - testsMs)),
  };
}

/** `.berth-test/running.txt`: the files started and not finished, each with its start, oldest first. */
export function runningText(running: ReadonlyMap<string, number>): string {
  return [...running]
    .sort((a, b) => a[1] - b[1])
    .map(([file, start]) => `${new Date(start).toISOString()} ${file}\n`)
    .join("");
}

export default class FileTimesReporter implements Reporter {
  private startTime = Date.now();
  private root = process.cwd();
  /** Files started and not finished ("project: path"), for scripts/lib/stall-watch.sh's report. */
  private readonly running = new Map<string, number>();

  onInit(vitest: Vitest): void {
    this.root = vitest.config.root;
    this.startTime = Date.now();
  }

  onTestModuleStart(m: TestModule): void {
    this.running.set(`${m.project.name}: ${relative(this.root, m.moduleId)}`, Date.now());
    this.writeRunning();
  }

  onTestModuleEnd(m: TestModule): void {
    this.running.delete(`${m.project.name}: ${relative(this.root, m.moduleId)}`);
    this.writeRunning();
  }

  private writeRunning(): void {
    const out = join(this.root, ".berth-test", "running.txt");
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, runningText(this.running));
  }

  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const report: FileTimes = {
      startTime: this.startTime,
      endTime: Date.now(),
      files: testModules.map((m) => fileTime(m, this.root)),
    };
    const out = join(this.root, ".berth-test", "file-times.json");
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  }
}
