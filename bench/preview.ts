// bench:preview — `pulumi preview` of the local stack with 10 and 50 environments of 3 services
// each (copies of the sample app, each with its own build context), on a temp backend: seconds
// for each, and the growth per added environment. Baseline in the same run: the same stack with
// 1 environment. A preview creates nothing (no Docker needed). Also the program's own work per
// environment (Compose loading, context hashing, summary), measured in this process, so the
// rest of the growth is the engine's and the SDK's. Where the growth goes: the CPU seconds of each
// preview, split into the engine (with the language host: the bench's waited-for children, less
// the Node.js processes), the program and the dynamic providers (each Node.js process the engine
// starts reports its own, bench/node-cpu.cjs), and the size of each kind of resource's inputs.
import { randomBytes } from "node:crypto";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseDocument } from "yaml";
import { summarize } from "../components/release/summary";
import { contextHash } from "../contract/build/context-hash";
import { loadCompose } from "../contract/compose";
import { run } from "../lib/process";
import { procStat } from "./proc-stat";

const ROOT = join(__dirname, "..");
const STACK = `bench${randomBytes(3).toString("hex")}`;
const stackFile = join(ROOT, "stacks", `Pulumi.${STACK}.yaml`);
const tmp = mkdtempSync(join(tmpdir(), "berth-bench-preview-"));
const backend = join(tmp, "state");
const SIZES = [1, 10, 50];
const RUNS = 2;
// Issue 22: a preview grows by at most 0.05 s per added environment.
const TARGET = 0.05;

const cpuFile = join(tmp, "node-cpu.txt");
const env = {
  PULUMI_BACKEND_URL: `file://${backend}`,
  PULUMI_CONFIG_PASSPHRASE: "berth-local",
  PULUMI_SKIP_UPDATE_CHECK: "true",
  NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --require ${join(__dirname, "node-cpu.cjs")}`.trim(),
  BENCH_NODE_CPU_FILE: cpuFile,
};
const pulumi = (args: string[]) =>
  run("pulumi", [...args, "--stack", STACK, "--non-interactive"], { cwd: ROOT, env, timeoutMs: 600_000 });

/** CPU seconds of this process's waited-for children (the engine and what it started). */
const reapedCpu = () => procStat("self")?.reaped ?? 0;

interface Cpu {
  total: number;
  program: number;
  providers: number;
}

/** The Node.js processes' own CPU seconds, from bench/node-cpu.cjs's file, emptied after. */
function nodeCpu(): { program: number; providers: number } {
  const lines = existsSync(cpuFile) ? readFileSync(cpuFile, "utf8").trim().split("\n") : [];
  rmSync(cpuFile, { force: true });
  const sum = (name: string) =>
    lines.filter((l) => l.startsWith(`${name} `)).reduce((a, l) => a + Number(l.split(" ")[1]), 0);
  return { program: sum("program-run.js"), providers: sum("dynamic-provider-run.js") };
}

/** Mean size (JSON characters) of the planned inputs of each kind of berth resource. */
function inputSizes(steps: { newState?: { inputs?: Record<string, unknown> } }[]) {
  const sizes: Record<string, { chars: number; provider: number; n: number }> = {};
  for (const s of steps) {
    const inputs = s.newState?.inputs;
    const kind = inputs?.berthKind;
    if (typeof kind !== "string") continue;
    const k = sizes[kind] ?? { chars: 0, provider: 0, n: 0 };
    sizes[kind] = k;
    k.chars += JSON.stringify(inputs).length;
    k.provider += String(inputs?.__provider ?? "").length;
    k.n++;
  }
  return sizes;
}

function appCopy(i: number): string {
  const dir = join(tmp, `app-${i}`);
  cpSync(join(ROOT, "stacks", "local", "app"), dir, { recursive: true });
  return join(dir, "compose.yaml");
}

/** The local stack's own file (its salt and secrets), with `n` environments. */
function writeStack(n: number): void {
  const doc = parseDocument(readFileSync(join(ROOT, "stacks", "Pulumi.local.yaml"), "utf8"));
  doc.setIn(["config", "berth:localRoot"], join(tmp, "local"));
  doc.setIn(
    ["config", "berth:environments"],
    Array.from({ length: n }, (_, i) => ({
      name: `env-${i}`,
      compose: join(tmp, `app-${i}`, "compose.yaml"),
    })),
  );
  writeFileSync(stackFile, doc.toString());
}

let lastSteps: { newState?: { inputs?: Record<string, unknown> } }[] = [];

/** The best of RUNS previews' seconds, and the runs' mean CPU seconds. */
async function previewSeconds(n: number): Promise<{ seconds: number; cpu: Cpu }> {
  writeStack(n);
  let best = Number.POSITIVE_INFINITY;
  const cpu: Cpu = { total: 0, program: 0, providers: 0 };
  for (let r = 0; r < RUNS; r++) {
    nodeCpu();
    const before = reapedCpu();
    const started = process.hrtime.bigint();
    const out = await pulumi(["preview", "--json"]);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const node = nodeCpu();
    cpu.total += (reapedCpu() - before) / RUNS;
    cpu.program += node.program / RUNS;
    cpu.providers += node.providers / RUNS;
    const digest = JSON.parse(out.stdout);
    const creates = digest.changeSummary?.create ?? 0;
    if (creates < 4 + 3 * n) throw new Error(`preview of ${n} environments planned only ${creates} creates`);
    lastSteps = digest.steps ?? [];
    best = Math.min(best, seconds);
  }
  return { seconds: best, cpu };
}

const engineOf = (c: Cpu) => c.total - c.program - c.providers;

/** What the program itself does per environment, in milliseconds (median of 50). */
function programWorkMs(): { compose: number; hash: number; summary: number } {
  const file = join(tmp, "app-0", "compose.yaml");
  const text = readFileSync(file, "utf8");
  const times = { compose: [] as number[], hash: [] as number[], summary: [] as number[] };
  for (let i = 0; i < 50; i++) {
    let t = performance.now();
    const loaded = loadCompose(text, { file, projectDir: join(tmp, "app-0"), variables: { GREETING: "x" } });
    times.compose.push(performance.now() - t);
    t = performance.now();
    // The sample app's two build contexts (web, and backend shared by store and worker).
    for (const context of ["web", "backend"]) contextHash(join(tmp, "app-0", context));
    times.hash.push(performance.now() - t);
    t = performance.now();
    if (loaded.ok) summarize(loaded.manifest, {});
    times.summary.push(performance.now() - t);
  }
  const median = (a: number[]) => a.sort((x, y) => x - y)[Math.floor(a.length / 2)] ?? 0;
  return { compose: median(times.compose), hash: median(times.hash), summary: median(times.summary) };
}

async function main(): Promise<void> {
  for (let i = 0; i < Math.max(...SIZES); i++) appCopy(i);
  await run("mkdir", ["-p", backend]);
  writeStack(1);
  await pulumi(["stack", "init"]);
  await pulumi(["preview", "--json"]); // warm: ts-node's cache, plugin lookups
  const seconds: Record<number, number> = {};
  const cpu: Record<number, Cpu> = {};
  for (const n of SIZES) {
    const r = await previewSeconds(n);
    seconds[n] = r.seconds;
    cpu[n] = r.cpu;
    console.log(
      `preview of ${String(n).padStart(2)} environment(s) (${3 * n} services): ${r.seconds.toFixed(2)} s; CPU ${r.cpu.total.toFixed(2)} s: engine ${engineOf(r.cpu).toFixed(2)}, program ${r.cpu.program.toFixed(2)}, dynamic providers ${r.cpu.providers.toFixed(2)}`,
    );
  }
  const s1 = seconds[1] ?? 0;
  const s10 = seconds[10] ?? 0;
  const s50 = seconds[50] ?? 0;
  const from1 = (s10 - s1) / 9;
  const per = (s50 - s10) / 40;
  console.log(`baseline (1 environment): ${s1.toFixed(2)} s`);
  console.log(
    `growth 1 → 10: ${from1.toFixed(3)} s/env; 10 → 50: ${per.toFixed(3)} s/env (linear if these agree)`,
  );
  const c10 = cpu[10];
  const c50 = cpu[50];
  if (c10 && c50) {
    const g = (f: (c: Cpu) => number) => ((f(c50) - f(c10)) / 40).toFixed(3);
    console.log(
      `CPU growth per added environment, 10 → 50: ${g((c) => c.total)} s (engine ${g(engineOf)}, program ${g((c) => c.program)}, dynamic providers ${g((c) => c.providers)}; 2 cores)`,
    );
  }
  const sizes = Object.entries(inputSizes(lastSteps))
    .filter(([, k]) => k.n >= 50)
    .map(
      ([kind, k]) =>
        `${kind} ${Math.round(k.chars / k.n)} chars (__provider ${Math.round(k.provider / k.n)}) ×${k.n / 50}`,
    );
  console.log(`planned inputs per environment: ${sizes.join(", ")}`);
  const w = programWorkMs();
  const programMs = w.compose + w.hash + w.summary;
  console.log(
    `program's own work per environment: compose ${w.compose.toFixed(2)} ms, context hash ${w.hash.toFixed(2)} ms, summary ${w.summary.toFixed(2)} ms (${((programMs / 1000 / per) * 100).toFixed(1)}% of the growth; the rest is the engine, the SDK and the dynamic provider's check/diff per resource)`,
  );
  console.log(`preview: ${per.toFixed(3)} s/env (target ${TARGET} s/env)`);
}

main()
  .catch((e) => {
    console.error(`bench:preview: ${(e as Error).message}`);
    process.exitCode = 1;
  })
  .finally(() => {
    rmSync(stackFile, { force: true });
    rmSync(tmp, { recursive: true, force: true });
  });
