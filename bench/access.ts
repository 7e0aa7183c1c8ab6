// bench:access: getting into a running workspace through the real agent daemon, its HAProxy and
// Docker, on this machine. Figures: command → first prompt of `berth workspace shell`;
// keystroke-to-echo latency (p50, p99) in a pty; `berth workspace cp` of 1 GiB against
// `docker cp` of the same file to the same container, through HAProxy's plain HTTP frontend (the
// local stack's) and, shown beside it, its TLS frontend (a cloud node's 443, behind Cloudflare).
// Last line: the echo p50.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  closeSync,
  createReadStream,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { openSession, pumpStdin } from "../cli/access/client";
import { generateSigningKeyPair } from "../contract/payload";
import { tlsSecretName } from "../contract/release/tls";
import { makeTestCertificate } from "../contract/release/tls-testing";
import { signWorkspace, workspaceKeys, workspaceStatus } from "../contract/workspace/declaration";
import { run } from "../lib/process";
import { AgentHarness, appManifest } from "../test/system/support/agent-harness";
import {
  BASE_IMAGE,
  removeStateVolumes,
  sampleConfig,
  sampleRepository,
} from "../test/system/support/devcontainer-repo";
import { testAppImage } from "../test/system/support/test-app-image";
import { cpSplit } from "./cp-split";
import { procStat, TICKS_PER_SECOND } from "./proc-stat";

const RUN = Math.random().toString(36).slice(2, 8);
const WS = `bench-ws-${RUN}`;
// An app whose release delivers the certificate HAProxy's TLS frontend serves for "localhost".
const ENV = `bench-tls-${RUN}`;
// The CLI as a user runs it: npm's bin, bin/berth (the launcher: bin/berth.js with V8's code cache
// of the bundle; for an access command to plain HTTP, no NODE_EXTRA_CA_CERTS to parse).
const BERTH = join(__dirname, "..", "bin", "berth");

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
};
const median = (xs: number[]) => pct(xs, 50);

// CPU seconds of processes, from /proc (bench/proc-stat.ts): a process's own time, plus the
// children it reaped (cutime/cstime: the CLI children this bench waits for, dockerd's
// docker-untar helpers).
/**
 * A process and its live descendants: own CPU of each, plus what the root reaped. `except`: trees
 * left out (the agent starts HAProxy as its own child on the local node, so its tree held
 * HAProxy's CPU too: figures before 2026-12-06 23:50 counted HAProxy twice, as itself and
 * inside the agent's).
 */
function treeCpu(root: number, except: readonly number[] = []): number {
  const kids = new Map<number, number[]>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    const ppid = procStat(Number(d))?.ppid;
    if (ppid !== undefined) kids.set(ppid, [...(kids.get(ppid) ?? []), Number(d)]);
  }
  let total = procStat(root)?.reaped ?? 0;
  const walk = (pid: number) => {
    if (except.includes(pid)) return;
    total += procStat(pid)?.own ?? 0;
    for (const k of kids.get(pid) ?? []) walk(k);
  };
  walk(root);
  return total;
}
/** The whole machine's busy CPU seconds (all cores), from /proc/stat. */
function machineBusy(): number {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0]?.trim().split(/\s+/).slice(1).map(Number) ?? [];
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  return (f.reduce((a, b) => a + b, 0) - idle) / TICKS_PER_SECOND;
}

async function main() {
  const h = new AgentHarness();
  const tmp = mkdtempSync(join(tmpdir(), "berth-bench-access-"));
  const alice = generateSigningKeyPair();
  const keyFile = join(tmp, "alice.key");
  writeFileSync(keyFile, `${alice.privateKey}\n`, { mode: 0o600 });
  const repo = await sampleRepository(
    `bench-${RUN}`,
    {
      ".devcontainer/devcontainer.json": sampleConfig({ postCreateCommand: "true" }),
    },
    "busybox",
  );
  const cert = await makeTestCertificate(["localhost"]);
  const caFile = join(tmp, "node-ca.pem");
  writeFileSync(caFile, cert.certificate);
  try {
    await h.startDaemon({ healthTimeoutSeconds: 30, tls: true });
    const app = await h.deployToDaemon(ENV, 1, appManifest({ message: "v1", image: await testAppImage() }), {
      secrets: { [tlsSecretName("app")]: cert.bundle },
    });
    if (app.state !== "applied") throw new Error(`the app with the TLS certificate: ${app.error}`);
    await h.channel.put(
      workspaceKeys.declaration(h.nodeId, WS),
      signWorkspace(
        {
          formatVersion: 1,
          workspaceId: WS,
          nodeId: h.nodeId,
          generation: 1,
          repository: repo,
          repositoryName: `acme/bench-${RUN}`,
          branch: "main",
          defaultBranch: "main",
          trusted: true,
          allowInitializeCommand: false,
          defaultImage: BASE_IMAGE,
          access: {
            operators: [{ name: "alice", publicKey: alice.publicKey, environments: [], workspaces: [WS] }],
            commands: true,
          },
        },
        h.signing.privateKey,
      ),
    );
    const deadline = Date.now() + 600_000;
    for (;;) {
      const text = await h.channel.get(workspaceKeys.status(h.nodeId, WS));
      const s = text ? workspaceStatus.parse(JSON.parse(text)) : undefined;
      if (s?.state === "running") break;
      if (s?.state === "failed" || Date.now() > deadline)
        throw new Error(`workspace: ${s?.error ?? "timed out"}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const url = `http://127.0.0.1:${h.proxyPort}`;
    const access = ["--url", url, "--operator", "alice", "--key", keyFile];

    // 1. Command to first prompt: the CLI's process start, the token, the session, the shell.
    const prompts: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const child = spawn("script", [
        "-qefc",
        [BERTH, "workspace", "shell", WS, ...access].join(" "),
        "/dev/null",
      ]);
      const at = await new Promise<number>((resolve, reject) => {
        let out = "";
        const timer = setTimeout(() => reject(new Error(`no prompt: ${out}`)), 15_000);
        child.stdout.on("data", (d: Buffer) => {
          out += d.toString();
          if (/[$#] $/.test(out)) {
            clearTimeout(timer);
            resolve(performance.now() - t0);
          }
        });
      });
      prompts.push(at);
      child.stdin.write("exit\r");
      await new Promise((r) => child.once("exit", r));
    }
    console.log(
      `shell: ${median(prompts).toFixed(0)} ms command to first prompt, median of ${prompts.length} (target 1000 ms; runs: ${prompts.map((x) => x.toFixed(0)).join(", ")})`,
    );

    // 2. Keystroke to echo: one byte into `cat` in a pty, until the terminal echoes it.
    let out = "";
    const stdout = new PassThrough();
    stdout.on("data", (d: Buffer) => {
      out += d.toString("latin1");
    });
    const s = await openSession(
      {
        url,
        operator: { name: "alice", privateKey: alice.privateKey },
        target: { kind: "workspace", id: WS },
        action: "workspace-exec",
        request: { command: ["sh", "-c", "echo ready; exec cat >/dev/null"], tty: true },
      },
      { stdout, stderr: new PassThrough() },
    );
    while (!out.includes("ready")) await new Promise((r) => setTimeout(r, 10));
    const echoes: number[] = [];
    for (let i = 0; i < 300; i++) {
      const ch = String.fromCharCode(97 + (i % 26));
      out = "";
      const t0 = performance.now();
      s.send(Buffer.from(ch));
      while (!out.includes(ch)) await new Promise((r) => setImmediate(r));
      echoes.push(performance.now() - t0);
    }
    s.send(Buffer.from("\x04"));
    s.ws.close();
    const p50 = median(echoes);
    const p99 = pct(echoes, 99);
    console.log(
      `echo: ${p50.toFixed(1)} ms p50, ${p99.toFixed(1)} ms p99 keystroke to echo over ${echoes.length} keys (target p50 20 ms)`,
    );

    // 3. 1 GiB in, through berth and through docker cp, same file, same container.
    const big = join(tmp, "big.bin");
    const fd = openSync(big, "w");
    const chunk = randomBytes(16 * 1024 * 1024);
    for (let i = 0; i < 64; i++) writeSync(fd, chunk);
    closeSync(fd);
    const container = (await run("docker", ["ps", "-q", "--filter", `label=berth.workspace=${WS}`])).stdout
      .trim()
      .split("\n")[0] as string;
    const berthRuns: number[] = [];
    const dockerRuns: number[] = [];
    // Where the CPU goes per copy (seconds): the CLI (reaped by this process), the proxy's
    // processes, the agent, dockerd and its helpers; and the whole machine (other work included).
    const dockerdPid = Number(readFileSync("/var/run/docker.pid", "utf8").trim());
    const haproxyPid = Number(
      readFileSync(join(h.stateRoot, "proxy", "haproxy.pid"), "utf8")
        .trim()
        .split("\n")[0],
    );
    const agentPid = h.daemon?.pid as number;
    const sample = () => ({
      cli: procStat("self")?.reaped ?? 0,
      haproxy: treeCpu(haproxyPid),
      agent: treeCpu(agentPid, [haproxyPid]),
      // Of the agent's: what its child processes spent (the splice relay that moves a copy's
      // bytes; the docker CLI of the session path's `cat`).
      agentChildren: procStat(agentPid)?.reaped ?? 0,
      dockerd: treeCpu(dockerdPid),
      machine: machineBusy(),
    });
    type Cpu = ReturnType<typeof sample>;
    const spent = (a: Cpu, b: Cpu): Cpu => ({
      cli: b.cli - a.cli,
      haproxy: b.haproxy - a.haproxy,
      agent: b.agent - a.agent,
      agentChildren: b.agentChildren - a.agentChildren,
      dockerd: b.dockerd - a.dockerd,
      machine: b.machine - a.machine,
    });
    const berthCpu: Cpu[] = [];
    const dockerCpu: Cpu[] = [];
    // The WebSocket session path (what agents before access protocol 3 get), in this process.
    const sessionRuns: number[] = [];
    // Out of the workspace: the same file back, through berth and through docker cp.
    const downRuns: number[] = [];
    const dockerDownRuns: number[] = [];
    const downCpu: Cpu[] = [];
    const dockerDownCpu: Cpu[] = [];
    // What every copy costs before its first byte moves (start, token, checks, the relay's start):
    // a 1-byte file, through berth and through docker cp, which goes first alternating. The first
    // berth copy into the container also starts the shell that answers its checks
    // (node-agent/access/container-checker.ts): it is shown apart.
    const tiny = join(tmp, "tiny.bin");
    writeFileSync(tiny, "x");
    const tinyRuns: number[] = [];
    const dockerTinyRuns: number[] = [];
    const berthTiny = async () => {
      const t0 = performance.now();
      const r = await run(BERTH, ["workspace", "cp", tiny, `${WS}:/tmp/tiny.bin`, ...access]);
      if (r.exitCode !== 0) throw new Error(r.stderr);
      tinyRuns.push(performance.now() - t0);
    };
    const dockerTiny = async () => {
      const t0 = performance.now();
      await run("docker", ["cp", tiny, `${container}:/tmp/tiny-docker.bin`]);
      dockerTinyRuns.push(performance.now() - t0);
    };
    for (let i = 0; i < 6; i++) {
      if (i % 2 === 0) {
        await berthTiny();
        await dockerTiny();
      } else {
        await dockerTiny();
        await berthTiny();
      }
    }
    const [coldTiny, ...warmTiny] = tinyRuns;
    // Where a 1-byte copy's time goes (bench/cp-split.ts).
    const split = await cpSplit(
      BERTH,
      url,
      { name: "alice", privateKey: alice.privateKey },
      { kind: "workspace", id: WS },
      "/tmp/tiny-split.bin",
    );
    console.log(
      `cp of 1 byte, split (medians): process start and exit ${split.start.toFixed(0)} ms, node info ${split.info.toFixed(1)} ms, PUT to 100 Continue ${split.toContinue.toFixed(1)} ms, 100 Continue to answer ${split.toAnswer.toFixed(1)} ms`,
    );
    console.log(
      `cp of 1 byte: berth workspace cp ${median(warmTiny).toFixed(0)} ms (the first, which starts the checking shell, ${coldTiny?.toFixed(0)} ms), docker cp ${median(dockerTinyRuns).toFixed(0)} ms (berth runs ${tinyRuns.map((x) => x.toFixed(0)).join(", ")}; docker runs ${dockerTinyRuns.map((x) => x.toFixed(0)).join(", ")})`,
    );
    // 1 GiB in: five pairs, which goes first alternating (the machine's other work drifts); the
    // session path and the downloads in the first three rounds.
    const load = () => readFileSync("/proc/loadavg", "utf8").split(" ")[0];
    const loadAtStart = load();
    const clean = () =>
      run("docker", [
        "exec",
        container,
        "rm",
        "-f",
        "/tmp/big-berth.bin",
        "/tmp/big-docker.bin",
        "/tmp/big-session.bin",
      ]);
    // Before each timed copy, the page cache's dirty pages are written out (untimed): otherwise a
    // copy pays for the writeback of the gigabytes the copy before it left (dockerd's extraction
    // is throttled), whichever tool made them.
    const settle = () => run("sync", []);
    for (let i = 0; i < 5; i++) {
      // Each round writes new files, as the first did.
      await clean();
      const berthUp = async () => {
        await settle();
        const c0 = sample();
        const t0 = performance.now();
        const r = await run(BERTH, ["workspace", "cp", big, `${WS}:/tmp/big-berth.bin`, ...access], {
          timeoutMs: 600_000,
        });
        if (r.exitCode !== 0) throw new Error(r.stderr);
        berthRuns.push(performance.now() - t0);
        berthCpu.push(spent(c0, sample()));
      };
      const dockerUp = async () => {
        await settle();
        const c0 = sample();
        const t0 = performance.now();
        await run("docker", ["cp", big, `${container}:/tmp/big-docker.bin`], { timeoutMs: 600_000 });
        dockerRuns.push(performance.now() - t0);
        dockerCpu.push(spent(c0, sample()));
      };
      if (i % 2 === 0) {
        await berthUp();
        await dockerUp();
      } else {
        await dockerUp();
        await berthUp();
      }
      if (i >= 3) continue;
      let t0 = performance.now();
      const ws = await openSession(
        {
          url,
          operator: { name: "alice", privateKey: alice.privateKey },
          target: { kind: "workspace", id: WS },
          action: "file-write",
          request: { path: "/tmp/big-session.bin", size: 1024 ** 3 },
          protocol: 2,
        },
        { stdout: new PassThrough(), stderr: process.stderr },
      );
      await pumpStdin(ws, createReadStream(big, { highWaterMark: 1024 * 1024 }));
      if ((await ws.done) !== 0) throw new Error("the WebSocket upload failed");
      sessionRuns.push(performance.now() - t0);
      await settle();
      let c0 = sample();
      t0 = performance.now();
      const down = await run(
        BERTH,
        ["workspace", "cp", `${WS}:/tmp/big-docker.bin`, join(tmp, "down-berth.bin"), ...access],
        { timeoutMs: 600_000 },
      );
      if (down.exitCode !== 0) throw new Error(down.stderr);
      downRuns.push(performance.now() - t0);
      downCpu.push(spent(c0, sample()));
      await settle();
      c0 = sample();
      t0 = performance.now();
      await run("docker", ["cp", `${container}:/tmp/big-docker.bin`, join(tmp, "down-docker.bin")], {
        timeoutMs: 600_000,
      });
      dockerDownRuns.push(performance.now() - t0);
      dockerDownCpu.push(spent(c0, sample()));
      rmSync(join(tmp, "down-berth.bin"), { force: true });
      rmSync(join(tmp, "down-docker.bin"), { force: true });
    }
    // The same copies through HAProxy's TLS frontend, as a cloud node's 443 behind Cloudflare
    // takes them: HAProxy decrypts the upload and encrypts the download, so neither is spliced
    // through it. Shown beside the plain HTTP figure, against the same docker cp runs.
    const tlsAccess = ["--url", `https://localhost:${h.tlsPort}`, "--operator", "alice", "--key", keyFile];
    const tlsRuns: number[] = [];
    const tlsCpu: Cpu[] = [];
    const tlsDownRuns: number[] = [];
    const tlsDownCpu: Cpu[] = [];
    for (let i = 0; i < 3; i++) {
      await clean();
      await settle();
      let c0 = sample();
      let t0 = performance.now();
      const up = await run(BERTH, ["workspace", "cp", big, `${WS}:/tmp/big-berth.bin`, ...tlsAccess], {
        timeoutMs: 600_000,
        env: { NODE_EXTRA_CA_CERTS: caFile },
      });
      if (up.exitCode !== 0) throw new Error(up.stderr);
      tlsRuns.push(performance.now() - t0);
      tlsCpu.push(spent(c0, sample()));
      await settle();
      c0 = sample();
      t0 = performance.now();
      const down = await run(
        BERTH,
        ["workspace", "cp", `${WS}:/tmp/big-berth.bin`, join(tmp, "down-berth.bin"), ...tlsAccess],
        { timeoutMs: 600_000, env: { NODE_EXTRA_CA_CERTS: caFile } },
      );
      if (down.exitCode !== 0) throw new Error(down.stderr);
      tlsDownRuns.push(performance.now() - t0);
      tlsDownCpu.push(spent(c0, sample()));
      rmSync(join(tmp, "down-berth.bin"), { force: true });
    }
    await clean();
    console.log(
      `cp (WebSocket session, protocol 2 path): 1 GiB ${(median(sessionRuns) / 1000).toFixed(2)} s, ratio ${(median(sessionRuns) / median(dockerRuns)).toFixed(2)} (runs ${sessionRuns.map((x) => (x / 1000).toFixed(2)).join(", ")})`,
    );
    const cpuLine = (runs: Cpu[]) =>
      (["cli", "haproxy", "agent", "agentChildren", "dockerd", "machine"] as const)
        .map((k) => `${k} ${median(runs.map((c) => c[k])).toFixed(2)}`)
        .join(", ");
    console.log(`cp CPU seconds per 1 GiB, median: berth workspace cp: ${cpuLine(berthCpu)}`);
    console.log(`cp CPU seconds per 1 GiB, median: docker cp: ${cpuLine(dockerCpu)} (cli: the docker CLI)`);
    // Per copy, the agent's own CPU and its children's (the splice relay, which moves the bytes
    // from the request's socket into the file): a run whose body the agent read itself (a client
    // that did not wait for 100 Continue) shows the agent's own CPU grow with the bytes it wrote
    // into the relay's stdin.
    console.log(
      `cp CPU seconds per berth copy: agent own ${berthCpu.map((c) => (c.agent - c.agentChildren).toFixed(2)).join(", ")}; its children ${berthCpu.map((c) => c.agentChildren.toFixed(2)).join(", ")}; dockerd ${berthCpu.map((c) => c.dockerd.toFixed(2)).join(", ")}; haproxy ${berthCpu.map((c) => c.haproxy.toFixed(2)).join(", ")}`,
    );
    console.log(`cp out CPU seconds per 1 GiB, median: berth workspace cp: ${cpuLine(downCpu)}`);
    console.log(`cp out CPU seconds per 1 GiB, median: docker cp: ${cpuLine(dockerDownCpu)}`);
    console.log(
      `cp out (from the workspace): berth workspace cp 1 GiB ${(median(downRuns) / 1000).toFixed(2)} s, docker cp ${(median(dockerDownRuns) / 1000).toFixed(2)} s, ratio ${(median(downRuns) / median(dockerDownRuns)).toFixed(2)} (berth runs ${downRuns.map((x) => (x / 1000).toFixed(2)).join(", ")}; docker runs ${dockerDownRuns.map((x) => (x / 1000).toFixed(2)).join(", ")})`,
    );
    console.log(
      `cp over TLS CPU seconds per 1 GiB, median: in: ${cpuLine(tlsCpu)}; out: ${cpuLine(tlsDownCpu)}`,
    );
    console.log(
      `cp over TLS (HAProxy's TLS frontend, as a cloud node's 443): in 1 GiB ${(median(tlsRuns) / 1000).toFixed(2)} s, ratio ${(median(tlsRuns) / median(dockerRuns)).toFixed(2)} to docker cp's (runs ${tlsRuns.map((x) => (x / 1000).toFixed(2)).join(", ")}); out ${(median(tlsDownRuns) / 1000).toFixed(2)} s, ratio ${(median(tlsDownRuns) / median(dockerDownRuns)).toFixed(2)} (runs ${tlsDownRuns.map((x) => (x / 1000).toFixed(2)).join(", ")})`,
    );
    const ratio = median(berthRuns) / median(dockerRuns);
    console.log(
      `cp: berth workspace cp 1 GiB ${(median(berthRuns) / 1000).toFixed(2)} s, docker cp ${(median(dockerRuns) / 1000).toFixed(2)} s, ratio ${ratio.toFixed(2)} (target 1.2; berth runs ${berthRuns.map((x) => (x / 1000).toFixed(2)).join(", ")}; docker runs ${dockerRuns.map((x) => (x / 1000).toFixed(2)).join(", ")}; each pair's ratio ${berthRuns.map((b, i) => (b / (dockerRuns[i] as number)).toFixed(2)).join(", ")}; load ${loadAtStart} → ${load()})`,
    );
    console.log(`access: ${p50.toFixed(1)} ms echo p50 (target 20 ms)`);
  } finally {
    await h.channel.delete(workspaceKeys.declaration(h.nodeId, WS)).catch(() => {});
    await h.cleanup([ENV]).catch(() => {});
    const ids = (await run("docker", ["ps", "-aq", "--filter", `label=berth.workspace=${WS}`])).stdout.trim();
    if (ids) await run("docker", ["rm", "-f", ...ids.split("\n")], { allowFailure: true });
    await removeStateVolumes(RUN);
    rmSync(tmp, { recursive: true, force: true });
    rmSync(repo, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`bench:access failed: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
