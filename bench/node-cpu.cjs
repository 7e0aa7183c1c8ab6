// bench:preview loads this in every Node.js process the engine starts (NODE_OPTIONS=--require):
// the program (scripts/program-run.js) and the dynamic providers (scripts/dynamic-provider-run.js)
// each append their own CPU seconds, user and system, to BENCH_NODE_CPU_FILE when they end. The
// engine ends the providers' process with a signal: it is written then too, and the process ends
// as it would have.
const { appendFileSync } = require("node:fs");
const { basename } = require("node:path");

const file = process.env.BENCH_NODE_CPU_FILE;
let written = false;
function write() {
  if (written || !file) return;
  written = true;
  const u = process.cpuUsage();
  appendFileSync(file, `${basename(process.argv[1] ?? "node")} ${(u.user + u.system) / 1e6}\n`);
}
process.on("exit", write);
for (const signal of ["SIGTERM", "SIGINT"])
  process.once(signal, () => {
    write();
    process.kill(process.pid, signal);
  });
