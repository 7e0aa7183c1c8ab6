// Entry of the bundled `berth`: whatever happens, one message and an exit code, never a stack trace.
import { startupSnapshot } from "node:v8";
import * as z from "zod";
import { nodeIo } from "./io";
import { main } from "./main";
import { prepareSnapshot } from "./snapshot";

// One command per process: zod's compiled fast path of each object schema (new Function, not in
// the code cache) costs more to make than it saves in a single parse.
z.config({ jitless: true });

function run(argv: string[]): void {
  main(argv, nodeIo()).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`berth: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}

// scripts/build.sh runs the bundle once more to make its V8 startup snapshot (cli/snapshot.ts).
if (startupSnapshot.isBuildingSnapshot()) prepareSnapshot(main, run, nodeIo());
else run(process.argv.slice(2));
