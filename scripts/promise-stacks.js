// The stack trace the Pulumi SDK takes for every promise it tracks, formatted without source maps
// (scripts/program-run.js installs this once the SDK's run entry has loaded).
//
// `debuggablePromise` (@pulumi/pulumi/runtime/debuggable.js) reads `new Error().stack` for each
// RPC, resource registration and log line, and keeps the text for one use: the promise-leak report
// printed with PULUMI_DEBUG_PROMISE_LEAKS set. The run entry's source-map-support formats each such
// stack through the source maps of every file in it (the SDK's own .js.map files are parsed for
// it): ~0.2 s of CPU in a run of berth's program, twice in a `pulumi up` with its preview. Here
// those stacks get V8's own frames (compiled JavaScript positions) unless
// PULUMI_DEBUG_PROMISE_LEAKS is set; every other stack trace (errors, resources' source positions)
// is formatted by source-map-support as before.
const path = require("node:path");

const SDK = path.dirname(require.resolve("@pulumi/pulumi/package.json"));
const DEBUGGABLE = path.join(SDK, "runtime", "debuggable.js");

/** True for the frames of the stack `debuggablePromise` takes for itself. */
function isPromiseStack(frames) {
  const top = Array.isArray(frames) ? frames[0] : undefined;
  return top?.getFunctionName?.() === "debuggablePromise" && top.getFileName?.() === DEBUGGABLE;
}

/** V8's own text of a stack, in source-map-support's shape. */
function plain(error, frames) {
  const head = `${error?.name || "Error"}: ${error?.message || ""}`;
  return head + frames.map((f) => `\n    at ${f}`).join("");
}

/** Wraps the current Error.prepareStackTrace (source-map-support's) once. */
function install(env = process.env) {
  if (env.PULUMI_DEBUG_PROMISE_LEAKS) return;
  const mapped = Error.prepareStackTrace;
  if (typeof mapped !== "function" || mapped.berthPromiseStacks) return;
  const prepare = (error, frames) => (isPromiseStack(frames) ? plain(error, frames) : mapped(error, frames));
  prepare.berthPromiseStacks = true;
  Error.prepareStackTrace = prepare;
}

module.exports = { install, isPromiseStack };
