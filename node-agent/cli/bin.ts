// Entry of the bundled `berth-agent`: one line on stderr for any error, never a stack trace.

const argv = process.argv.slice(2);
const err = (s: string) => process.stderr.write(`${s}\n`);
const exit = (code: number) => process.exit(code);
const fail = (e: unknown) => {
  process.stderr.write(`berth-agent: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
};

// An apply's child (converge/apply-child.ts) is short-lived: it keeps V8's defaults.
(argv[0] === "apply-child" ? Promise.resolve() : import("./v8-flags").then(() => undefined))
  .then(() => import("./zod-jitless"))
  .then(() => import("./main"))
  .then(({ main }) => main(argv, { out: (s) => process.stdout.write(`${s}\n`), err }))
  .then(exit, fail);
