// The Pulumi SDK's own debug lines about each resource's registration, dropped in the program
// (scripts/program-run.js installs this once the SDK's run entry has loaded).
//
// The SDK logs three or four debug lines per resource ("Registering resource: …", "RegisterResource
// RPC prepared: …", "RegisterResource RPC finished: …; resp: …", the same for a component's
// outputs) and sends each to the engine as a Log RPC of its own, one after the other. In a preview
// of the local stack with 50 environments that is ~800 RPCs against ~210 registrations: ~0.3 s of
// the program's CPU and ~0.2 s of the engine's, per program run (docs/benchmarks.md,
// bench:preview). The engine shows them only with `pulumi preview --debug`, and the "finished" line
// prints the engine's whole answer, so a resource's output values (secret ones too) reached the
// debug stream in plain text. berth's own code logs no debug lines; every other line (a user's
// `pulumi.log.debug`, the SDK's invoke and program-start lines) still goes to the engine.
// BERTH_SDK_DEBUG_LOGS=1 keeps these lines too, for debugging the SDK itself.

/** The beginnings of the SDK's per-registration debug lines (runtime/resource.js). */
const REGISTRATION_LINES = [
  "Registering resource: ",
  "RegisterResource RPC prepared: ",
  "RegisterResource RPC finished: ",
  "RegisterResourceOutputs RPC prepared: ",
  "RegisterResourceOutputs RPC finished: ",
  "Resource RPC serialization requested: ",
  "Reading resource: ",
  "ReadResource RPC prepared: ",
  "ReadResource RPC finished: ",
];

/** True for one of the SDK's per-registration debug lines. */
function isRegistrationLine(message) {
  return typeof message === "string" && REGISTRATION_LINES.some((p) => message.startsWith(p));
}

/**
 * Replaces `log.debug` (the SDK's log module, whose export the SDK's runtime calls through) with
 * one that drops the per-registration lines and passes every other line on.
 */
function install(log, env = process.env) {
  if (env.BERTH_SDK_DEBUG_LOGS === "1") return;
  const debug = log.debug;
  if (typeof debug !== "function" || debug.berthSdkDebugLogs) return;
  const filtered = function debugWithoutRegistrations(message, ...rest) {
    return isRegistrationLine(message) ? Promise.resolve() : debug.call(this, message, ...rest);
  };
  filtered.berthSdkDebugLogs = true;
  log.debug = filtered;
}

module.exports = { install, isRegistrationLine };
