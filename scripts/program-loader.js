// The Pulumi program's TypeScript loader (scripts/program-run.js registers it; bench:local loads
// the program's modules with it). Each .ts file is transpiled by esbuild with the options
// scripts/ts-node-esbuild.js gives it under ts-node, so the output, and with it the dynamic
// providers' serialized functions, is the same. The output and its source map are kept in
// node_modules/.cache/berth-program/, one entry per file, reused while the file's content (and
// esbuild's version) stays the same. Stack traces name the TypeScript lines: the SDK's
// source-map-support reads a file's map only when a stack reaches that file.
const { createHash } = require("node:crypto");
const fs = require("node:fs");
const Module = require("node:module");
const path = require("node:path");

const ROOT = path.resolve(__dirname, "..");
const CACHE = path.join(ROOT, "node_modules", ".cache", "berth-program");
// What the output depends on besides a file's name and content: esbuild's version and these options
// (scripts/ts-node-esbuild.js's).
const OPTIONS = { format: "cjs", platform: "node", target: "node20", sourcemap: "external" };
const SALT = JSON.stringify([require("esbuild/package.json").version, OPTIONS]);

/** Program file → its cached source map's path, read only when a stack trace needs it. */
const maps = new Map();

let esbuild;
function transpile(source, fileName) {
  esbuild ??= require("esbuild");
  return esbuild.transformSync(source, {
    ...OPTIONS,
    loader: fileName.endsWith(".tsx") ? "tsx" : "ts",
    sourcefile: fileName,
  });
}

function write(file, text) {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

const sha256 = (...parts) => createHash("sha256").update(parts.join("\0")).digest("hex");

/** Program file → the digest of its content, for every file read (scripts/provider-cache.js). */
const sources = new Map();
/** The digest below, and the number of files read when it was made. */
let digested = { reads: -1, digest: "" };
let reads = 0;

/**
 * One digest over the names and contents of the program's files read so far; made again only after
 * another file was read (each dynamic resource asks for it).
 */
function sourcesDigest() {
  if (digested.reads !== reads)
    digested = { reads, digest: sha256(...[...sources].sort(([a], [b]) => (a < b ? -1 : 1)).flat()) };
  return digested.digest;
}

function compiled(source, fileName) {
  // One entry per file (the cache does not grow with each edit); its last line names the content
  // it was made from.
  const base = path.join(CACHE, sha256(fileName));
  const digest = sha256(SALT, source);
  sources.set(fileName, digest);
  reads++;
  const stamp = `//# berth-program ${digest}\n`;
  maps.set(fileName, `${base}.map`);
  try {
    const code = fs.readFileSync(`${base}.js`, "utf8");
    if (code.endsWith(stamp)) return code;
  } catch {
    // not transpiled yet
  }
  const out = transpile(source, fileName);
  try {
    fs.mkdirSync(CACHE, { recursive: true });
    write(`${base}.map`, out.map);
    write(`${base}.js`, out.code + stamp);
  } catch {
    // a read-only checkout: transpiled again at the next run
    maps.set(fileName, { map: out.map });
  }
  return out.code;
}

function loadTypeScript(module, fileName) {
  module._compile(compiled(fs.readFileSync(fileName, "utf8"), fileName), fileName);
}
Module._extensions[".ts"] = loadTypeScript;
Module._extensions[".tsx"] = loadTypeScript;

// The same source-map-support the SDK's run entry registers (its stack traces).
const sdk = path.dirname(require.resolve("@pulumi/pulumi/package.json"));
require(require.resolve("source-map-support", { paths: [sdk] })).install({
  retrieveSourceMap(source) {
    const m = maps.get(source);
    if (m === undefined) return null;
    try {
      return { url: source, map: typeof m === "string" ? fs.readFileSync(m, "utf8") : m.map };
    } catch {
      return null;
    }
  },
});

module.exports = { sourcesDigest };
