// The dynamic providers' process: the `pulumi-resource-pulumi-nodejs` launcher that
// scripts/setup/pulumi.sh writes beside the CLI starts it with the SDK's own entry
// (@pulumi/pulumi/cmd/dynamic-provider/index.js) as its first argument. It registers
// scripts/lazy-sdk-modules.js, so the TypeScript compiler and @npmcli/arborist, which a process
// that only deserializes providers never uses, are not loaded at its start, then runs the SDK's
// entry unchanged, with the engine's arguments.
const entry = process.argv[2];
process.argv.splice(2, 1);
require("./lazy-sdk-modules");
require(entry);
