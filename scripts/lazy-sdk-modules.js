// Loads two of the Pulumi SDK's heaviest dependencies only when they are used: the TypeScript
// compiler (the closure serializer parses a function's text with it: the program needs it when it
// serializes the dynamic providers; the dynamic-provider process, which only deserializes, never)
// and @npmcli/arborist (`computeCodePaths`, for functions shipped with their node_modules, which
// berth never calls). The SDK requires both at load time, ~0.45 s of a process's start on this
// machine. Each is replaced by a stand-in that requires the real module at its first use and
// forwards everything to it, so what runs is unchanged. Registered by scripts/program-run.js (the
// program) and scripts/dynamic-provider-run.js (the dynamic providers).
//
// Also zod's locales (zod/v4/locales/index.cjs): the program's modules load zod's CommonJS build,
// whose entry requires every one of its ~50 languages for `z.locales` (~30 ms of CPU at each
// program run's start; berth reads only the English messages, which zod loads on their own).
// A stand-in answers `__esModule`, so zod's __importStar keeps it, and loads them at first use.
//
// Also the OpenTelemetry SDK that the program's run entry (@pulumi/pulumi/cmd/run/tracing.js)
// requires at load time and uses only when `--tracing` is given: six packages, ~270 modules,
// ~0.1 s of a program run's start. tracing.js takes named exports at load
// (`const { NodeTracerProvider } = require(...)`), so each export is a stand-in of its own that
// loads the package when it is called or constructed.
const Module = require("node:module");
const path = require("node:path");

const SDK = path.dirname(require.resolve("@pulumi/pulumi/package.json"));
const lazy = new Set([
  path.join(SDK, "typescript-shim.js"),
  require.resolve("@npmcli/arborist", { paths: [path.join(SDK, "runtime", "closure")] }),
]);
/** zod's locales, where this checkout has zod (the program's modules load it). */
let zodLocales;
try {
  zodLocales = path.join(path.dirname(require.resolve("zod/package.json")), "v4", "locales", "index.cjs");
} catch {
  zodLocales = undefined;
}
if (zodLocales) lazy.add(zodLocales);

const standIns = new Map();
function standIn(load) {
  let real;
  const get = () => {
    real ??= load();
    return real;
  };
  return new Proxy(
    {},
    {
      // `__esModule` answered without loading: TypeScript's __importStar then keeps the stand-in
      // instead of copying (and so loading) every export at import time.
      get: (_t, k) => (k === "__esModule" ? true : Reflect.get(get(), k)),
      has: (_t, k) => Reflect.has(get(), k),
      ownKeys: () => Reflect.ownKeys(get()),
      getOwnPropertyDescriptor: (_t, k) => {
        const d = Reflect.getOwnPropertyDescriptor(get(), k);
        return d ? { ...d, configurable: true } : undefined;
      },
    },
  );
}

/** The packages tracing.js requires only for `--tracing` (it takes @opentelemetry/api eagerly). */
const TRACING = path.join(SDK, "cmd", "run", "tracing.js");
const tracingOnly = new Set([
  "@opentelemetry/resources",
  "@opentelemetry/sdk-trace-base",
  "@opentelemetry/exporter-zipkin",
  "@opentelemetry/instrumentation-grpc",
  "@opentelemetry/sdk-trace-node",
  "@opentelemetry/instrumentation",
]);

/** A module whose every export (a function or a class) loads the module when it is used. */
function lazyExports(load) {
  let real;
  const get = () => {
    real ??= load();
    return real;
  };
  const exports = new Map();
  return new Proxy(
    {},
    {
      get(_t, k) {
        if (k === "__esModule") return true;
        if (!exports.has(k))
          exports.set(
            k,
            new Proxy(function lazyExport() {}, {
              apply: (_f, self, args) => Reflect.apply(get()[k], self, args),
              construct: (_f, args) => Reflect.construct(get()[k], args),
              get: (_f, p) => Reflect.get(get()[k], p),
            }),
          );
        return exports.get(k);
      },
    },
  );
}

const load = Module._load;
Module._load = function lazyLoad(request, parent, isMain, ...rest) {
  if (parent?.filename === TRACING && tracingOnly.has(request)) {
    const key = `${TRACING}:${request}`;
    if (!standIns.has(key))
      standIns.set(
        key,
        lazyExports(() => load.call(this, request, parent, isMain)),
      );
    return standIns.get(key);
  }
  if (
    parent &&
    !isMain &&
    (request === "@npmcli/arborist" ||
      request.endsWith("typescript-shim") ||
      (zodLocales !== undefined && request === "../locales/index.cjs"))
  ) {
    let file;
    try {
      file = Module._resolveFilename(request, parent, isMain);
    } catch {
      return load.call(this, request, parent, isMain, ...rest);
    }
    if (lazy.has(file)) {
      if (!standIns.has(file))
        standIns.set(
          file,
          standIn(() => load.call(this, request, parent, isMain)),
        );
      return standIns.get(file);
    }
  }
  return load.call(this, request, parent, isMain, ...rest);
};
