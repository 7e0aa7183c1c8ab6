// Entry of the bundled `berth-agent`: one line on stderr for any error, never a stack trace.
//
// `upload-relay` (node-agent/access/upload-relay.ts), the short-lived child that moves one
// upload's body to the engine, is dispatched before anything else loads: it runs with V8's
// defaults (not the agent's --optimize-for-size, v8-flags.ts) and initializes only its own few
// modules, the rest of the bundle (main.ts, imported lazily) never.
import { UPLOAD_RELAY_COMMAND, uploadRelayMain } from "../access/upload-relay";

const argv = process.argv.slice(2);
const err = (s: string) => process.stderr.write(`${s}\n`);
const exit = (code: number) => process.exit(code);
const fail = (e: unknown) => {
  process.stderr.write(`berth-agent: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
};

if (argv[0] === UPLOAD_RELAY_COMMAND) uploadRelayMain(argv.slice(1), err).then(exit, fail);
// An apply's child (converge/apply-child.ts) is short-lived: it keeps V8's defaults.
else
  (argv[0] === "apply-child" ? Promise.resolve() : import("./v8-flags").then(() => undefined))
    .then(() => import("./zod-jitless"))
    .then(() => import("./main"))
    .then(({ main }) => main(argv, { out: (s) => process.stdout.write(`${s}\n`), err }))
    .then(exit, fail);
