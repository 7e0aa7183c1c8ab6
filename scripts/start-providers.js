// The engine starts the dynamic providers' process when the program registers its first dynamic
// resource, which is after all of the program's modules have loaded, and then waits ~0.45 s for
// it. An invoke of a function no provider has makes it start that process beside the program's
// loading: the provider answers "unknown function", which is dropped, and nothing is shown or
// recorded (scripts/program-run.js sends it through here).
//
// When it goes out matters. The engine loads a provider inside its one loop of registrations, and
// the SDK loads the program's modules only once the stack's own registration is answered (it
// awaits the stack's URN to set the root resource). Sent with the run entry, before the stack's
// registration, the invoke held that registration until the providers' process had started (~0.7 s
// of each run at load 8, the program idle); sent when the program's first module loads, it waited
// for the event loop until all of them had loaded. So it goes out as soon as the stack's URN is
// known: the SDK then sets the root resource (an RPC the engine answers outside that loop) and
// loads the program while the providers' process starts.

/**
 * Wraps the SDK's `settings.setRootResource` (the stack's initialization calls it with the stack
 * resource) so that `invoke` is called once, as soon as the stack's URN resolves.
 */
function startProvidersWithStack(settings, invoke) {
  const setRootResource = settings.setRootResource;
  let asked = false;
  settings.setRootResource = function startProvidersBeside(stack) {
    if (!asked) {
      asked = true;
      stack.urn.promise().then(
        () => Promise.resolve(invoke()).catch(() => undefined),
        () => undefined,
      );
    }
    return setRootResource.call(this, stack);
  };
}

module.exports = { startProvidersWithStack };
