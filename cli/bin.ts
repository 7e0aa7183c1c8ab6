// Entry of the bundled `berth`: whatever happens, one message and an exit code, never a stack trace.
import { nodeIo } from "./io";
import { main } from "./main";

main(process.argv.slice(2), nodeIo()).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`berth: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
