// Entry of the bundled `berth`: whatever happens, one message and an exit code, never a stack trace.
import * as z from "zod";
import { nodeIo } from "./io";
import { main } from "./main";

// One command per process: zod's compiled fast path of each object schema (new Function, not in
// the code cache) costs more to make than it saves in a single parse.
z.config({ jitless: true });

main(process.argv.slice(2), nodeIo()).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`berth: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
