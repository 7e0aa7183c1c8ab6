// An operator's restore over a volume that holds data (`berth-agent restore ENV --snapshot ID
// --force`, the real bundled agent in its own process), killed with SIGKILL at each point of its
// swap (node-agent/backup/swap.ts): the restored copy complete, the journal written, the
// containers stopped, the previous data moved aside (no folder at the volume's path), the
// restored data in place, the previous data removed. The next pass of the daemon (its start after
// a restart, or the pass of a daemon that kept running) settles what was left: the volume's path
// holds the whole previous data (cut before the restored data took its place) or the whole
// snapshot (after), never nothing; nothing is left beside it; the containers stopped for the swap
// run again and the app serves that data; the restore report in the status says what was found
// and done. Without the journal, the cut between the renames left no folder at the volume's path
// and the previous data forgotten in `.replaced-*`.
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EnvironmentBackup } from "../../contract/backup/schema";
import { readStatus } from "../../contract/channel/publish";
import { AgentHarness, storeManifest } from "./support/agent-harness";
import {
  agentCli,
  backupSecrets,
  environmentBackup,
  restoreKilledAt as killedRestore,
  volumeFolder,
} from "./support/environment-backup";
import { testAppImage } from "./support/test-app-image";
import { Versitygw } from "./support/versitygw";

const ENV = `swap-${Math.random().toString(36).slice(2, 6)}`;
const h = new AgentHarness();
const gw = new Versitygw();
let backup: EnvironmentBackup;
let secrets: Record<string, string>;
let snapshot = "";
const SNAPSHOT_NOTE = "the snapshot's note";

const device = () => volumeFolder(h, ENV);
const note = () => {
  const p = join(device(), "files", "note");
  return existsSync(p) ? readFileSync(p, "utf8") : undefined;
};
/** What is beside the volume's folder (a journal, a restored copy, the previous data). */
const beside = () => readdirSync(dirname(device())).filter((n) => n !== "data");

function exited(p: ChildProcess, timeoutMs: number): Promise<NodeJS.Signals | number | null> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve(p.signalCode ?? p.exitCode);
  return new Promise((resolve, reject) => {
    const t = setTimeout(
      () => reject(new Error(`the process did not exit within ${timeoutMs} ms`)),
      timeoutMs,
    );
    p.once("exit", (code, signal) => {
      clearTimeout(t);
      resolve(signal ?? code);
    });
  });
}

/** The restore killed at `point` (two renames with `renames`). */
async function restoreKilledAt(point: string, renames = false): Promise<void> {
  const r = await killedRestore(h, ENV, snapshot, point, renames);
  expect(r.end, `the restore killed at ${point}: ${r.err}`).toBe("SIGKILL");
}

async function stopDaemon(): Promise<void> {
  const d = h.daemon;
  if (!d || d.exitCode !== null || d.signalCode !== null) return;
  d.kill("SIGTERM");
  await exited(d, 30_000);
}

/** Waits until the daemon settled the swap (nothing left beside the volume) and the app serves `want`. */
async function settled(want: string): Promise<void> {
  let served = "";
  for (let end = Date.now() + 60_000; Date.now() < end; ) {
    served = (await h.get("/files/note", "files.test").catch(() => ({ body: "" }))).body;
    if (beside().length === 0 && served === want) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(
    `not settled: beside the volume ${JSON.stringify(beside())}, the app serves ${JSON.stringify(served)}\n${h.daemonLog()}`,
  );
}

/** The restore report in the status, once one newer than `since` is published (after the files settle). */
async function restoreReport(since: Date) {
  for (let end = Date.now() + 30_000; ; ) {
    const r = (await readStatus(h.channel, h.nodeId, ENV))?.backup?.restore;
    if ((r && Date.parse(r.at) >= since.getTime()) || Date.now() > end) return r;
    await new Promise((res) => setTimeout(res, 200));
  }
}

beforeAll(async () => {
  const app = await testAppImage();
  await gw.start();
  backup = environmentBackup(gw, "berth-swap", { retention: { last: 3 } });
  secrets = backupSecrets(gw);
  await h.startDaemon({ healthTimeoutSeconds: 30 });
  const s = await h.deployToDaemon(ENV, 1, storeManifest(app), { backup, secrets });
  expect(s.state, s.error).toBe("applied");
  mkdirSync(join(device(), "files"), { recursive: true });
  writeFileSync(join(device(), "files", "note"), SNAPSHOT_NOTE);
  const b = await agentCli(h, "backup", ENV);
  expect(b.code, b.err).toBe(0);
  const list = await agentCli(h, "snapshots", ENV);
  expect(list.code, list.err).toBe(0);
  snapshot = list.out.trim().split("\t")[0] as string;
  expect(snapshot).toMatch(/^[0-9a-f]{8}$/);
}, 600_000);

afterAll(async () => {
  await h.cleanup([ENV]);
  await gw.cleanup();
}, 300_000);

// What the volume's path holds right after the kill, and after the next pass settled it.
// What the volume's path holds right after the kill, and after the next pass settled it. This
// machine's python3 exchanges the folders in one step; `renames`: as on a node without it.
type Cut = {
  point: string;
  renames: boolean;
  cut: "previous" | "nothing" | "snapshot";
  after: "previous" | "snapshot";
};
const POINTS: Cut[] = [
  { point: "swap:restored", renames: false, cut: "previous", after: "previous" },
  { point: "swap:journaled", renames: false, cut: "previous", after: "previous" },
  { point: "swap:stopped", renames: false, cut: "previous", after: "previous" },
  { point: "swap:placed", renames: false, cut: "snapshot", after: "snapshot" },
  { point: "swap:cleaned", renames: false, cut: "snapshot", after: "snapshot" },
  { point: "swap:aside", renames: true, cut: "nothing", after: "previous" },
  { point: "swap:placed", renames: true, cut: "snapshot", after: "snapshot" },
];

describe("an operator's restore over the volume's data, killed during its swap", () => {
  it.each(POINTS)(
    "at $point (two renames: $renames): the restarted daemon settles it; the volume holds the $after data, whole, and the app serves it",
    async ({ point, renames, cut, after }) => {
      const previous = `the previous data before ${point}`;
      writeFileSync(join(device(), "files", "note"), previous);
      await stopDaemon();
      const since = new Date();
      await restoreKilledAt(point, renames);
      const want = { previous, snapshot: SNAPSHOT_NOTE, nothing: undefined };
      // What the kill left, before any pass: between the renames there is no folder at all.
      expect(note(), `the volume's path right after the kill at ${point}`).toBe(want[cut]);
      expect(existsSync(device())).toBe(cut !== "nothing");
      expect(beside().some((n) => n === "data.swap.json")).toBe(point !== "swap:restored");
      // Exchanged, the previous data is where the restored copy was: nothing was ever moved aside.
      expect(beside().some((n) => n.startsWith("data.replaced-"))).toBe(renames);
      await h.restartDaemon("SIGTERM");
      await settled(want[after] as string);
      expect(note()).toBe(want[after]);
      const report = await restoreReport(since);
      expect(report?.reason).toBe("operator");
      expect(report?.volumes).toHaveLength(1);
      const v = report?.volumes[0];
      if (point === "swap:restored") {
        expect(v).toMatchObject({ volume: "data", action: "kept" });
        expect(v?.detail).toMatch(
          /cut off before its swap left data\.restore-\d+-\d+: removed it; the volume kept its data/,
        );
      } else {
        expect(v).toMatchObject({
          volume: "data",
          action: after === "snapshot" ? "restored" : "kept",
          snapshotId: snapshot,
        });
        expect(v?.detail).toMatch(
          after === "snapshot"
            ? /was cut off during the swap, leaving .*: finished it, the volume holds the snapshot/
            : /was cut off during the swap, leaving .*: rolled back, the volume holds its previous data/,
        );
      }
    },
    240_000,
  );

  it("killed between the renames while the daemon runs: its next pass puts the previous data back", async () => {
    const previous = "the previous data, daemon running";
    writeFileSync(join(device(), "files", "note"), previous);
    expect(h.daemon?.exitCode).toBeNull();
    const since = new Date();
    await restoreKilledAt("swap:aside", true);
    await settled(previous);
    const v = (await restoreReport(since))?.volumes[0];
    expect(v).toMatchObject({ volume: "data", action: "kept", snapshotId: snapshot });
    expect(v?.detail).toMatch(
      /no folder at the volume's path, the previous data aside in data\.replaced-.*rolled back/,
    );
  }, 240_000);

  it("a restore that runs to its end still replaces the data and leaves nothing beside the volume", async () => {
    writeFileSync(join(device(), "files", "note"), "the previous data, once more");
    const r = await agentCli(h, "restore", ENV, "--snapshot", snapshot, "--force");
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.out).toMatch(/data: restored: replaced the volume's data/);
    await settled(SNAPSHOT_NOTE);
  }, 240_000);
});
