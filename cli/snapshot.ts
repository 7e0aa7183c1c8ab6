// The CLI's V8 startup snapshot (dist/berth.blob): the bundle loaded, and one `berth validate`
// of the sample app run, inside the snapshot, so a process started from it (bin/berth, the
// launcher) neither loads nor initializes the bundle, nor compiles what a validate runs first.
// scripts/build.sh makes it:
//   node --no-opt --snapshot-blob dist/berth.blob --build-snapshot dist/berth.js validate SAMPLE …
// and bin/berth starts it with the same V8 flags:
//   node --no-opt --snapshot-blob dist/berth.blob -- dist/berth.js COMMAND ARG…
// The snapshot holds the bundle's SHA-256 from when it was made; a process started from it that
// finds another bundle at that path (the code changed, the blob did not), or a command outside
// SNAPSHOT_COMMANDS, runs nothing and exits with FALL_BACK, and the launcher runs bin/berth.js.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { startupSnapshot } from "node:v8";
import type { Io } from "./io";

/**
 * The commands a snapshot serves: `validate`, which reads local files only and is the one run
 * most often (in CI, in editors), so its start is the one worth the snapshot. Inside a snapshot
 * the bundle's `require` knows Node's built-in modules only, and `render` and `sign` reach
 * registries. bin/berth names the same list (cli/snapshot.test.ts holds them equal).
 */
export const SNAPSHOT_COMMANDS: readonly string[] = ["validate"];

/**
 * The exit code that sends the launcher to bin/berth.js: Node.js's own when it refuses a snapshot
 * (made by another Node.js, or with other V8 flags), which berth never uses (0, 1, 2).
 */
export const FALL_BACK = 14;

/** What a process started from the snapshot does with its arguments (BUNDLE COMMAND ARG…). */
export function snapshotDecision(
  argv: string[],
  bundleSha256: string,
  sha256Of: (path: string) => string | undefined,
): { run: string[] } | { fallBack: string } {
  const [bundle, command, ...rest] = argv;
  if (bundle === undefined) return { fallBack: "no bundle path given" };
  if (command === undefined || !SNAPSHOT_COMMANDS.includes(command)) {
    return { fallBack: `${command ?? "no command"}: not served by the snapshot` };
  }
  if (sha256Of(bundle) !== bundleSha256)
    return { fallBack: `${bundle} is not the bundle the snapshot holds` };
  return { run: [command, ...rest] };
}

function sha256Of(path: string): string | undefined {
  try {
    return createHash("sha256").update(readFileSync(path)).digest("hex");
  } catch {
    return undefined;
  }
}

/**
 * Called by cli/bin.ts when Node.js is building a snapshot of the bundle: sets what a process
 * started from it runs, then runs the build's own arguments (a `validate` of the sample app)
 * with its output dropped, so that what it loads and compiles is in the snapshot. A warm-up that
 * fails fails the build.
 */
export function prepareSnapshot(
  main: (argv: string[], io: Io) => Promise<number>,
  run: (argv: string[]) => void,
  io: Io,
): void {
  const bundle = process.argv[1] as string;
  const bundleSha256 = sha256Of(bundle);
  if (bundleSha256 === undefined) throw new Error(`cannot read ${bundle}`);
  startupSnapshot.setDeserializeMainFunction(() => {
    const decision = snapshotDecision(process.argv.slice(1), bundleSha256, sha256Of);
    if ("fallBack" in decision) process.exit(FALL_BACK);
    else run(decision.run);
  });
  const warmUp = process.argv.slice(2);
  main(warmUp, { ...io, out: () => {}, err: (t) => process.stderr.write(t) }).then((code) => {
    if (code !== 0) throw new Error(`the snapshot's warm-up \`berth ${warmUp.join(" ")}\` exited ${code}`);
  });
}
