// The Node.js language host's run entry for berth's Pulumi program (env.sh sets
// PULUMI_LANGUAGE_NODEJS_RUN_PATH to this file). It registers the program's own TypeScript
// loader (scripts/program-loader.js) and hands over to the SDK's run entry (@pulumi/pulumi/cmd/run)
// unchanged.
//
// Why: the language host this machine builds (v3.68.0, tools/) always tells the SDK the program
// is TypeScript (Pulumi.yaml's `typescript: false` reaches it only as a command-line flag, which
// the CLI no longer passes), so the SDK registers ts-node: ts-node's start, its own
// source-map-support, and esbuild for every file at every run. Here a file esbuild already
// transpiled is read back from its cache. Same files, same transpiler output (the dynamic
// providers' serialized functions do not change), same __dirname of every module, and stack
// traces still name the TypeScript lines.
//
// Without env.sh (plain `pulumi up` with the SDK's defaults) the program still runs: under
// ts-node, with stacks/tsconfig.json naming the same esbuild transpiler.
const { sourcesDigest } = require("./program-loader");
// The dynamic providers' serialized text comes from the last run with the same sources
// (scripts/provider-cache.js).
require("./provider-cache").register(sourcesDigest);
// The SDK's TypeScript compiler loads at the first serialized provider, @npmcli/arborist never
// (scripts/lazy-sdk-modules.js).
require("./lazy-sdk-modules");
// The closure serializer's inspector session opens at its first use, not before the program
// loads (scripts/inspector-on-demand.js).
require("./inspector-on-demand");
// The SDK registers ts-node only when this says the program is TypeScript.
process.env.PULUMI_NODEJS_TYPESCRIPT = "false";
require("@pulumi/pulumi/cmd/run");
// The SDK's promise tracking takes no stack traces unless PULUMI_DEBUG_PROMISE_LEAKS asks for them
// (scripts/promise-stacks.js); its run entry loads the program only after an await.
require("./promise-stacks").install(require("@pulumi/pulumi/runtime/debuggable"));
// The SDK's debug lines about each registration stay in the program: each was a Log RPC to the
// engine (scripts/sdk-debug-logs.js).
require("./sdk-debug-logs").install(require("@pulumi/pulumi/log"));
// The engine starts the dynamic providers' process once the stack's own registration is answered,
// beside the program's loading (scripts/start-providers.js).
require("./start-providers").startProvidersWithStack(require("@pulumi/pulumi/runtime/settings"), () =>
  require("@pulumi/pulumi").runtime.invoke("pulumi-nodejs:index:startProviders", {}),
);
