// The dynamic providers' process: the `pulumi-resource-pulumi-nodejs` launcher that
// scripts/setup/pulumi.sh writes beside the CLI starts it with the SDK's own entry
// (@pulumi/pulumi/cmd/dynamic-provider/index.js) as its first argument. It registers
// scripts/lazy-sdk-modules.js, so the TypeScript compiler and @npmcli/arborist, which a process
// that only deserializes providers never uses, are not loaded at its start, then runs the SDK's
// entry unchanged, with the engine's arguments.
//
// Once the entry has told the engine its port, the providers' runtime (this checkout's
// dist/provider-runtime.js, which every berth provider's methods require) is loaded: the process
// starts beside the program's loading (scripts/program-run.js asks for it first), so the bundle's
// load (~0.1 s) no longer falls on the first check or diff that needs it, in each of the engine's
// runs (a `pulumi up` with its preview has two). A runtime that fails to load is left to that
// first require, which reports the error as before.
const path = require("node:path");

const RUNTIME = path.resolve(__dirname, "..", "dist", "provider-runtime.js");
const entry = process.argv[2];
process.argv.splice(2, 1);
require("./lazy-sdk-modules");

const write = process.stdout.write;
process.stdout.write = function firstWrite(...args) {
  // The entry's one line on stdout is its port.
  process.stdout.write = write;
  const written = write.apply(this, args);
  setImmediate(() => {
    try {
      require(RUNTIME);
    } catch {
      // reported by the provider method that requires it
    }
  });
  return written;
};
require(entry);
