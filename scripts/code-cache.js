// Makes V8's code cache of a bundle (BUNDLE.cache) after running it once with the given
// arguments, so the cache holds the bytecode of every function that run compiled, not only the
// top level: `node scripts/code-cache.js dist/berth.js validate FILE`. bin/berth.js loads the
// bundle with it. The file is the bundle's SHA-256 (32 bytes), then V8's data: V8 checks its own
// version and flags, but of the source only its length.
const { createHash } = require("node:crypto");
const { readFileSync, writeFileSync } = require("node:fs");
const { dirname, resolve } = require("node:path");
const Module = require("node:module");
const vm = require("node:vm");

const [bundle, ...args] = process.argv.slice(2);
if (!bundle) {
  process.stderr.write("usage: node scripts/code-cache.js BUNDLE [ARG...]\n");
  process.exit(2);
}
const file = resolve(bundle);
const source = readFileSync(file);
const script = new vm.Script(Module.wrap(source.toString("utf8")), { filename: file });
process.argv = [process.argv[0], file, ...args];
process.on("exit", () => {
  const hash = createHash("sha256").update(source).digest();
  writeFileSync(`${file}.cache`, Buffer.concat([hash, script.createCachedData()]));
});
const m = new Module(file, module);
m.filename = file;
m.paths = Module._nodeModulePaths(dirname(file));
script.runInThisContext()(m.exports, Module.createRequire(file), m, file, dirname(file));
