// A Docker runner for unit tests: records every command it is given (argv as data) and answers
// each with what `answer` returns for it (default: exit 0, no output). The fake socket of
// proxy/runtime-api.test.ts, for commands.
import type { RunResult } from "../../lib/process";
import type { Command } from "../compose/commands";
import type { DockerCallOptions, DockerRunner } from "../docker";

export interface RecordedCall {
  argv: string[];
  opts: DockerCallOptions;
}

export type Answer = Partial<Pick<RunResult, "stdout" | "stderr" | "exitCode">>;

export function recordingRunner(answer: (argv: string[]) => Answer | undefined = () => undefined): {
  run: DockerRunner;
  calls: RecordedCall[];
  /** The calls as "file arg arg ..." lines (easy to read in expectations). */
  lines: () => string[];
} {
  const calls: RecordedCall[] = [];
  const run: DockerRunner = async (cmd: Command, opts = {}) => {
    const argv = [cmd.file, ...cmd.args];
    calls.push({ argv, opts });
    const a = answer(argv) ?? {};
    const result: RunResult = {
      command: argv.join(" "),
      stdout: a.stdout ?? "",
      stderr: a.stderr ?? "",
      exitCode: a.exitCode ?? 0,
    };
    if (result.exitCode !== 0 && !opts.allowFailure)
      throw new Error(`${argv.join(" ")} exited with ${result.exitCode}: ${result.stderr}`);
    return result;
  };
  return { run, calls, lines: () => calls.map((c) => c.argv.join(" ")) };
}
