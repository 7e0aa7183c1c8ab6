// Entry of the bundled `berth-agent`: one line on stderr for any error, never a stack trace.
import "./v8-flags";
import { main } from "./main";

main(process.argv.slice(2), {
  out: (s) => process.stdout.write(`${s}\n`),
  err: (s) => process.stderr.write(`${s}\n`),
}).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`berth-agent: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
