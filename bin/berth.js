#!/usr/bin/env node
// The berth CLI, bundled to one file by `npm run build` (scripts/build.sh). The build also leaves
// V8's code cache of the bundle beside it (dist/berth.js.cache, scripts/code-cache.js): with it,
// this Node.js neither parses nor compiles what a `berth validate` runs. The cache starts with
// the SHA-256 of the bundle it was made from (V8 itself checks only the source's length); one
// made from another bundle, or one V8 does not accept (another Node.js), is not used.
const { createHash } = require("node:crypto");
const { readFileSync } = require("node:fs");
const { dirname, join } = require("node:path");
const Module = require("node:module");
const vm = require("node:vm");

const file = join(__dirname, "..", "dist", "berth.js");
let cache;
try {
  cache = readFileSync(`${file}.cache`);
} catch {
  cache = undefined;
}
const source = cache === undefined ? undefined : readFileSync(file);
if (
  cache === undefined ||
  source === undefined ||
  !createHash("sha256").update(source).digest().equals(cache.subarray(0, 32))
) {
  require(file);
} else {
  const cachedData = cache.subarray(32);
  const script = new vm.Script(Module.wrap(source.toString("utf8")), { filename: file, cachedData });
  const m = new Module(file, module);
  m.filename = file;
  m.paths = Module._nodeModulePaths(dirname(file));
  script.runInThisContext()(m.exports, Module.createRequire(file), m, file, dirname(file));
}
