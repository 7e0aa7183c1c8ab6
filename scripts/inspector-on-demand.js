// The V8 inspector session of the Pulumi SDK's closure serializer, opened at its first use instead
// of at every program run's start (scripts/program-run.js registers this).
//
// The SDK's run entry (@pulumi/pulumi/cmd/run/index.js) opens an inspector session and enables its
// Debugger before it loads the program: the serializer names the file of a function it cannot
// serialize from the script ids the Debugger reports (runtime/closure/v8Hooks.js). Enabling it
// reports every script compiled so far (~900 in a run of berth's program), then every script
// compiled after: ~0.15 s of CPU at each run's start, twice in a `pulumi up` with its preview. With
// scripts/provider-cache.js the serializer runs only for a dynamic provider whose text is not
// cached, so here the session opens when the serializer first asks for it: its listener attached
// before `Debugger.enable`, which reports every script still alive, so the script-id map holds
// every script the SDK's would (and those compiled before the SDK's own session, which it misses).
// The session, the Debugger and what the serializer asks of them are otherwise the SDK's.
const Module = require("node:module");
const path = require("node:path");

const SDK = path.dirname(require.resolve("@pulumi/pulumi/package.json"));
const HOOKS = path.join(SDK, "runtime", "closure", "v8Hooks.js");

/** v8Hooks' exports, with the session opened by the first getSessionAsync(). */
function onDemand() {
  const urls = new Map();
  let session;
  async function open() {
    const inspector = require("node:inspector");
    const s = new inspector.Session();
    s.connect();
    s.on("Debugger.scriptParsed", (event) => urls.set(event.params.scriptId, event.params.url));
    await new Promise((resolve, reject) =>
      s.post("Debugger.enable", (err) => (err ? reject(err) : resolve())),
    );
    return s;
  }
  return {
    __esModule: true,
    getSessionAsync: () => {
      session ??= open();
      return session;
    },
    // The run entry waits for this before it loads the program: nothing to wait for any more.
    isInitializedAsync: async () => undefined,
    getScriptUrl: (id) => urls.get(id),
  };
}

let hooks;
const load = Module._load;
Module._load = function inspectorOnDemandLoad(request, parent, isMain, ...rest) {
  if (parent && request.endsWith("v8Hooks")) {
    let file;
    try {
      file = Module._resolveFilename(request, parent, isMain);
    } catch {
      return load.call(this, request, parent, isMain, ...rest);
    }
    if (file === HOOKS) {
      // The SDK's module still loads: it turns on --allow-natives-syntax, which the serializer uses.
      load.call(this, request, parent, isMain, ...rest);
      hooks ??= onDemand();
      return hooks;
    }
  }
  return load.call(this, request, parent, isMain, ...rest);
};
