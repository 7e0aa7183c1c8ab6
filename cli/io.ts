// What a command may touch: its output streams, files, the clock. Tests pass their own.
export interface Io {
  out(text: string): void;
  err(text: string): void;
  readFile(path: string): string;
  writeFile(path: string, text: string, mode?: number): void;
  env: Record<string, string | undefined>;
  /** Byte streams for commands that stream (logs, exec, a terminal); the process's own when absent. */
  streams?: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream; stdin?: NodeJS.ReadableStream };
}

/** Bad input or usage: exit code 2, one line per problem, never a stack trace. */
export class UsageError extends Error {
  /**
   * `problems`: lines printed as they are (FILE:LINE:COL PATH: message); without them the
   * message is printed after "berth: ".
   */
  constructor(
    message: string,
    readonly problems?: string[],
  ) {
    super(message);
    this.name = "UsageError";
  }
}

export function nodeIo(): Io {
  const fs = require("node:fs") as typeof import("node:fs");
  return {
    out: (t) => process.stdout.write(t.endsWith("\n") ? t : `${t}\n`),
    err: (t) => process.stderr.write(t.endsWith("\n") ? t : `${t}\n`),
    readFile: (p) => {
      try {
        return fs.readFileSync(p, "utf8");
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        throw new UsageError(
          code === "ENOENT"
            ? `${p}: no such file`
            : code === "EISDIR"
              ? `${p}: is a folder, not a file`
              : `${p}: cannot read (${code})`,
        );
      }
    },
    writeFile: (p, t, mode) => fs.writeFileSync(p, t, { mode: mode ?? 0o644 }),
    env: process.env,
  };
}
