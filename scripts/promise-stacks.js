// The stack trace the Pulumi SDK takes for every promise it tracks: not taken at all unless
// PULUMI_DEBUG_PROMISE_LEAKS asks for the leak report (scripts/program-run.js installs this once
// the SDK's run entry has loaded).
//
// `debuggablePromise` (@pulumi/pulumi/runtime/debuggable.js) reads `new Error().stack` for each
// RPC, resource registration, output and log line, and keeps the text for one use: the leak report
// printed with PULUMI_DEBUG_PROMISE_LEAKS set (without it the report gives the count only). That
// is ~70 promises per resource: in a preview of the local stack with 50 environments, ~14,800
// stacks, each captured and formatted (source-map-support's frames, or V8's own as this file gave
// them before), ~0.5 s of the program's time at load 7. Here each call of `debuggablePromise` runs
// with `Error.stackTraceLimit` at 0, so V8 captures no frames and the kept text is "Error: "; the
// promise is tracked for the leak count as before. With PULUMI_DEBUG_PROMISE_LEAKS set nothing is
// changed: the report has its source-mapped stacks. Every other stack trace (errors, resources'
// source positions) is taken and source-mapped as before.

/** Wraps `debuggable.debuggablePromise` (the module's export, which the SDK calls through) once. */
function install(debuggable, env = process.env) {
  if (env.PULUMI_DEBUG_PROMISE_LEAKS) return;
  const tracked = debuggable?.debuggablePromise;
  if (typeof tracked !== "function" || tracked.berthPromiseStacks) return;
  const withoutStack = function debuggablePromiseWithoutStack(...args) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      return tracked.apply(this, args);
    } finally {
      Error.stackTraceLimit = limit;
    }
  };
  withoutStack.berthPromiseStacks = true;
  debuggable.debuggablePromise = withoutStack;
}

module.exports = { install };
