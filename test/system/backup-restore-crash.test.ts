// A new node's restore cut by a power loss, with the real bundled agent. The volumes' file system
// is an ext4 image of its own (a loop mount). At each point of the restore (restic done, data
// flushed, folder moved into place) the agent is killed with SIGKILL, and the file system is shut
// down the way a power cut leaves it: its journal committed (so any rename or file the agent made
// is kept, the harshest case for the order of the steps) but no file data that was not yet on disk
// (EXT4_IOC_SHUTDOWN with LOGFLUSH). It is mounted again (the journal replayed) and the agent
// started again. Each time the app must serve the snapshot byte for byte: never a volume kept as
// restored that lacks its data, never the app started on a half-restored one, no partial restore
// left beside the volume. Then a write the app synced after a completed restore survives a power
// cut and is not restored over. Last, an operator's restore over the volume's data cut the same
// way in its swap.
import { type ChildProcess, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EnvironmentBackup } from "../../contract/backup/schema";
import { waitForOutcome } from "../../contract/channel/publish";
import { AGENT_ENVIRONMENT, agentRunArgs } from "../../contract/node/agent-process";
import { run } from "../../lib/process";
import { AgentHarness, storeManifest } from "./support/agent-harness";
import {
  agentCli,
  backupSecrets,
  environmentBackup,
  restoreKilledAt,
  volumeFolder,
} from "./support/environment-backup";
import { REPO_ROOT } from "./support/pulumi-project";
import { testAppImage } from "./support/test-app-image";
import { Versitygw } from "./support/versitygw";

const ENV = `cut-${Math.random().toString(36).slice(2, 6)}`;
const disk = mkdtempSync(join(tmpdir(), "berth-restore-cut-"));
const image = join(disk, "volumes.ext4");
const mnt = join(disk, "mnt");
const h = new AgentHarness({ volumeRoot: join(mnt, "volumes") });
const gw = new Versitygw();
let app = "";
let backup: EnvironmentBackup;
let secrets: Record<string, string>;
let seq = 0;
/** The snapshot's files (path in the volume → sha256). */
let snapshot = new Map<string, string>();

const device = () => volumeFolder(h, ENV);
const sha = (p: string) => createHash("sha256").update(readFileSync(p)).digest("hex");

function files(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else out.set(relative(dir, p), sha(p));
    }
  };
  walk(dir);
  return out;
}

function startAgent(killAt?: string): ChildProcess {
  return spawn(process.execPath, agentRunArgs(join(REPO_ROOT, "dist", "berth-agent.js"), h.configFile), {
    env: {
      ...process.env,
      ...AGENT_ENVIRONMENT,
      BERTH_LOG_LEVEL: "warn",
      ...(killAt ? { BERTH_AGENT_FAULT_KILL_AT: killAt } : {}),
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
}

function exited(p: ChildProcess, timeoutMs: number): Promise<NodeJS.Signals | number | null> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve(p.signalCode ?? p.exitCode);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`the agent did not exit within ${timeoutMs} ms`)), timeoutMs);
    p.once("exit", (code, signal) => {
      clearTimeout(t);
      resolve(signal ?? code);
    });
  });
}

async function stopAgent(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  p.kill("SIGTERM");
  await exited(p, 30_000);
}

/** Processes (a killed agent's restic) that still use the volumes' file system, by pid. */
function processesUsing(dir: string): number[] {
  const pids: number[] = [];
  for (const n of readdirSync("/proc")) {
    if (!/^\d+$/.test(n) || Number(n) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${n}/cmdline`, "utf8").includes(dir)) pids.push(Number(n));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

async function mount(): Promise<void> {
  mkdirSync(mnt, { recursive: true });
  await run("mount", ["-o", "loop", image, mnt]);
}

/**
 * The power cut, after the agent died: every process writing there dies too, the containers go
 * (as at a reboot), then the file system stops with its journal committed and whatever file data
 * was still in memory lost; mounted again, the journal is replayed.
 */
async function powerCut(): Promise<void> {
  const pids = processesUsing(mnt);
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  for (let end = Date.now() + 10_000; pids.some((p) => existsSync(`/proc/${p}`)) && Date.now() < end; )
    await new Promise((r) => setTimeout(r, 50));
  const ids = (await run("docker", ["ps", "-aq", "--filter", `label=berth.environment=${ENV}`])).stdout
    .split("\n")
    .filter(Boolean);
  if (ids.length) await run("docker", ["rm", "-f", ...ids]);
  // EXT4_IOC_SHUTDOWN (_IOR('X', 125, __u32)) with EXT4_GOING_FLAGS_LOGFLUSH.
  await run("perl", [
    "-e",
    'open(my $f, "<", $ARGV[0]) or die "$ARGV[0]: $!\\n"; my $flags = pack("L", 1); ioctl($f, 0x8004587d, $flags) or die "shutdown: $!\\n"',
    mnt,
  ]);
  // Mounted nowhere else (a container's volume): mounting the image again beside a live mount of
  // it would corrupt it.
  for (let end = Date.now() + 10_000; mountsOfTheImage() > 1 && Date.now() < end; )
    await new Promise((r) => setTimeout(r, 100));
  expect(mountsOfTheImage(), "mounts of the volumes' file system").toBe(1);
  await run("umount", [mnt]);
  await mount();
}

/**
 * How many mounts show the volumes' file system (its device number), in every mount namespace:
 * one held in another namespace (a process of a system test running beside this one) keeps the
 * shut-down file system and its loop device alive, and `mount -o loop` of the image would reuse
 * that device and get the shut-down file system back (EIO from then on).
 */
function mountsOfTheImage(): number {
  const mountinfo = (file: string) =>
    readFileSync(file, "utf8")
      .split("\n")
      .map((l) => l.split(" "));
  const dev = mountinfo("/proc/self/mountinfo").find((f) => f[4] === mnt)?.[2];
  if (dev === undefined) return 0;
  let n = 0;
  const seen = new Set<string>();
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const ns = readlinkSync(`/proc/${pid}/ns/mnt`);
      if (seen.has(ns)) continue;
      seen.add(ns);
      n += mountinfo(`/proc/${pid}/mountinfo`).filter((f) => f[2] === dev).length;
    } catch {
      // gone meanwhile
    }
  }
  return n;
}

/** A new node (no state, an empty volume file system) given the environment's release. */
async function newNode(): Promise<void> {
  await h.loseNode(ENV);
  await h.start({ healthTimeoutSeconds: 30 });
  seq += 1;
  await h.publish(ENV, seq, storeManifest(app), { backup, secrets });
}

async function converged(): Promise<ChildProcess> {
  const agent = startAgent();
  try {
    const s = await waitForOutcome(h.channel, {
      nodeId: h.nodeId,
      environmentId: ENV,
      sequence: seq,
      timeoutMs: 120_000,
    });
    expect(s.state, s.error).toBe("applied");
    return agent;
  } catch (e) {
    await stopAgent(agent);
    throw e;
  }
}

/** The volume holds every file of the snapshot, byte for byte, and the app serves them. */
async function expectSnapshotServed(): Promise<void> {
  const now = files(device());
  for (const [p, digest] of snapshot) expect(now.get(p), `${p} after the power cut`).toBe(digest);
  expect((await h.get("/files/note", "files.test")).body).toBe("the snapshot's note");
  // Nothing of a cut restore is left beside the volume.
  expect(readdirSync(dirname(device())).filter((n) => n.includes(".restore-"))).toEqual([]);
}

beforeAll(async () => {
  await run("truncate", ["-s", "512M", image]);
  await run("mkfs.ext4", ["-q", "-F", image]);
  await mount();
  app = await testAppImage();
  await gw.start();
  backup = environmentBackup(gw, "berth-cut", { retention: { last: 3 } });
  secrets = backupSecrets(gw);
  await h.start({ healthTimeoutSeconds: 30 });
  seq += 1;
  const s = await h.deploy(ENV, seq, storeManifest(app), { backup, secrets });
  expect(s.state, s.error).toBe("applied");
  // Large and small files, in folders: 24 MiB in all.
  const dir = device();
  mkdirSync(join(dir, "files", "docs", "a"), { recursive: true });
  writeFileSync(join(dir, "files", "note"), "the snapshot's note");
  writeFileSync(join(dir, "files", "blob"), randomBytes(16 * 1024 * 1024));
  for (let i = 0; i < 200; i++) writeFileSync(join(dir, "files", "docs", "a", `d${i}`), randomBytes(40_000));
  const b = await agentCli(h, "backup", ENV);
  expect(b.code, b.err).toBe(0);
  snapshot = files(dir);
  snapshot.delete("starts"); // the store appends to it at each start
}, 600_000);

afterAll(async () => {
  await h.cleanup([ENV]);
  await gw.cleanup();
  await run("umount", [mnt], { allowFailure: true });
  rmSync(disk, { recursive: true, force: true });
}, 300_000);

describe("a new node's restore cut by a power loss", () => {
  it.each(["restore:downloaded", "restore:flushed", "restore:moved"])(
    "at %s: after the restart the app serves the whole snapshot",
    async (point) => {
      await newNode();
      const doomed = startAgent(point);
      expect(await exited(doomed, 120_000), `killed at ${point}`).toBe("SIGKILL");
      await powerCut();
      const agent = await converged();
      try {
        await expectSnapshotServed();
      } finally {
        await stopAgent(agent);
      }
    },
    300_000,
  );

  it("a write the app synced after a completed restore survives a power cut and is not restored over", async () => {
    await newNode();
    const agent = await converged();
    const store = (
      await run("docker", [
        "ps",
        "-q",
        "--filter",
        `label=berth.environment=${ENV}`,
        "--filter",
        "label=berth.service=store",
      ])
    ).stdout.trim();
    await run("docker", ["exec", store, "sh", "-c", "echo written after > /data/files/after && sync"]);
    agent.kill("SIGKILL");
    await exited(agent, 30_000);
    await powerCut();
    expect(existsSync(join(device(), "files", "after"))).toBe(true);
    expect(readFileSync(join(device(), "files", "after"), "utf8")).toBe("written after\n");
    // The restarted agent finds its release applied: the volume is not restored again.
    const again = startAgent();
    try {
      await new Promise((r) => setTimeout(r, 3_000));
      expect(readFileSync(join(device(), "files", "after"), "utf8")).toBe("written after\n");
      const now = files(device());
      for (const [p, digest] of snapshot) expect(now.get(p), p).toBe(digest);
    } finally {
      await stopAgent(again);
    }
  }, 300_000);
});

// An operator's restore over the volume's data (backup/swap.ts), killed in its swap and the power
// cut right after: the journal and the renames were committed, nothing else. The restarted agent
// settles the swap: the volume holds the whole previous data (cut between the two renames of a
// node without the exchange) or the whole snapshot (cut once it was exchanged in), byte for byte.
describe("an operator's restore over the volume's data cut by a power loss", () => {
  it.each([
    { point: "swap:aside", renames: true, after: "previous" },
    { point: "swap:placed", renames: false, after: "snapshot" },
  ])(
    "at $point (two renames: $renames): after the restart the volume holds the whole $after data",
    async ({ point, renames, after }) => {
      await newNode();
      await stopAgent(await converged());
      const dir = device();
      writeFileSync(join(dir, "files", "note"), `the previous data before ${point}`);
      writeFileSync(join(dir, "files", "more"), randomBytes(1024 * 1024));
      await run("sync", ["--file-system", dir]);
      const previous = files(dir);
      previous.delete("starts");
      const id = (await agentCli(h, "snapshots", ENV)).out.trim().split("\t")[0] as string;
      const r = await restoreKilledAt(h, ENV, id, point, renames);
      expect(r.end, r.err).toBe("SIGKILL");
      await powerCut();
      expect(existsSync(`${dir}.swap.json`), "the journal after the power cut").toBe(true);
      const agent = startAgent();
      try {
        for (let end = Date.now() + 60_000; existsSync(`${dir}.swap.json`) && Date.now() < end; )
          await new Promise((res) => setTimeout(res, 200));
        expect(readdirSync(dirname(dir)).filter((n) => n !== "data")).toEqual([]);
        const now = files(dir);
        for (const [p, digest] of after === "previous" ? previous : snapshot)
          expect(now.get(p), `${p} after the power cut`).toBe(digest);
        expect(now.has(join("files", "more"))).toBe(after === "previous");
      } finally {
        await stopAgent(agent);
      }
    },
    300_000,
  );
});
