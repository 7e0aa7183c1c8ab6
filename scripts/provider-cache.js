// The dynamic providers' serialized text, kept between runs of the program (scripts/program-run.js
// registers this). At every run the SDK serializes each dynamic provider with its closure
// serializer: the TypeScript compiler (loaded for it, ~0.2 s) parses every method's text and the
// V8 inspector looks up what each captures, ~0.45 s of CPU per run of the local stack, while the
// engine waits for the text to register the resources. The text depends only on the methods'
// own text, on what they capture, and on the SDK; so a run with the same methods, the same
// program sources (every file the program loader read, by content), the same SDK, Node.js and
// checkout gets the text the serializer made before, byte for byte (the state sees no change).
//
// Kept only for a provider whose serialization captures nothing but the provider object itself
// and `runtime` (this checkout's dist/provider-runtime.js): a value taken from the environment,
// the config or the clock could differ at the next run, so such a provider is serialized anew
// every time. Stored in node_modules/.cache/berth-program/providers/, one file per key; a
// read-only checkout serializes every time.
const { createHash } = require("node:crypto");
const fs = require("node:fs");
const Module = require("node:module");
const path = require("node:path");

const ROOT = path.resolve(__dirname, "..");
const CACHE = path.join(ROOT, "node_modules", ".cache", "berth-program", "providers");
const RUNTIME = path.join(ROOT, "dist", "provider-runtime.js");
const SDK = path.dirname(require.resolve("@pulumi/pulumi/package.json"));
const DYNAMIC = path.join(SDK, "dynamic", "index.js");
const SERIALIZER = path.join(SDK, "runtime", "closure", "serializeClosure.js");
const SALT = JSON.stringify([require("@pulumi/pulumi/package.json").version, process.version, ROOT]);

/** The captures a kept text may hold: the provider, the checkout's runtime path, nothing else. */
const ALLOWED_CAPTURES = new Set([
  "provider: __provider",
  "this: undefined",
  "arguments: undefined",
  `runtime: ${JSON.stringify(RUNTIME)}`,
]);

/** True when the serializer's text captured only what ALLOWED_CAPTURES names. */
function keepable(text) {
  for (const line of text.split("\n")) {
    // The environment the serializer emits for captured objects: only the provider's own table.
    if (line.startsWith("var ") && !/^var __provider = \{[\w$]+: __f\d+(, [\w$]+: __f\d+)*\};$/.test(line))
      return false;
    const w = /^\s*with\(\{ (.*) \}\) \{$/.exec(line);
    if (w && !w[1].split(", ").every((c) => ALLOWED_CAPTURES.has(c))) return false;
  }
  return true;
}

/**
 * The cache key of `() => provider` serialized with `args`, or undefined when the provider is not
 * a plain table of functions. `sources` is the program loader's digest of the files it read.
 */
function keyOf(func, args, sources) {
  const provider = func();
  if (!provider || typeof provider !== "object") return undefined;
  const methods = Object.entries(provider);
  if (methods.length === 0 || methods.some(([, f]) => typeof f !== "function")) return undefined;
  return createHash("sha256")
    .update(JSON.stringify([SALT, args ?? {}, sources, methods.map(([k, f]) => [k, String(f)])]))
    .digest("hex");
}

function read(dir, key) {
  try {
    const hit = JSON.parse(fs.readFileSync(path.join(dir, `${key}.json`), "utf8"));
    return typeof hit.text === "string" && hit.containsSecrets === false ? hit : undefined;
  } catch {
    return undefined;
  }
}

function write(dir, key, serialized) {
  try {
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `${key}.json`);
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(serialized));
    fs.renameSync(tmp, file);
  } catch {
    // a read-only checkout: serialized again at the next run
  }
}

/**
 * Makes the SDK's dynamic resources take their provider's text from the cache. `sources` returns
 * the digest of the program's source files read so far (scripts/program-loader.js).
 */
function register(sources, cacheDir = CACHE) {
  let real;
  const serializer = () => {
    real ??= load.call(Module, SERIALIZER, null, false);
    return real;
  };
  const standIn = {
    async serializeFunction(func, args) {
      const key = keyOf(func, args, sources());
      const hit = key && read(cacheDir, key);
      if (hit) return hit;
      const out = await serializer().serializeFunction(func, args);
      if (key && !out.containsSecrets && keepable(out.text))
        write(cacheDir, key, { text: out.text, exportName: out.exportName, containsSecrets: false });
      return out;
    },
  };
  const load = Module._load;
  Module._load = function providerCacheLoad(request, parent, isMain, ...rest) {
    // dynamic/index.js requires the serializer at each provider's first serialization.
    if (parent?.filename === DYNAMIC && request === "../runtime/closure/serializeClosure") return standIn;
    return load.call(this, request, parent, isMain, ...rest);
  };
}

module.exports = { register };
