// A first apply's restore into an empty volume, with a fake restic that writes the snapshot's
// files where it is told: the order its crash safety rests on (the data flushed before the folder
// takes the volume's name) and the removal of what a killed restore left beside the volume.
// test/system/backup-restore-crash.test.ts cuts the real agent's restore at these points.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import type { NodeBackup } from "../../contract/backup/schema";
import { createLogger } from "../../lib/log";
import { recordingRunner } from "../testing/recording-runner";
import { Backups, type ResticRunner } from "./backups";

const SECRETS = { pw: "pw-1", kid: "kid-1", sk: "sk-1" };

function setup() {
  const root = mkdtempSync(join(tmpdir(), "berth-restore-order-"));
  const device = join(root, "volumes", "data", "data");
  mkdirSync(device, { recursive: true });
  const b: NodeBackup = {
    repository: "s3:http://s3.test/bucket/shop",
    region: "us-east-1",
    pruneSchedule: "0 3 * * *",
    checkSchedule: "0 4 * * 0",
    restoreOnFirstApply: true,
    secrets: { password: "pw", accessKeyId: "kid", secretAccessKey: "sk" },
    volumes: [{ name: "data", device, schedule: "0 * * * *", retention: { last: 3 }, stop: [] }],
  };
  const seen: string[] = [];
  // restic restore: the snapshot's file under --target.
  const restic: ResticRunner = async (cmd) => {
    const target = cmd.args[cmd.args.indexOf("--target") + 1] as string;
    seen.push(`restic into ${target.slice(dirname(device).length + 1).replace(/-\d+-\d+$/, "-…")}`);
    mkdirSync(join(target, "files"), { recursive: true });
    writeFileSync(join(target, "files", "note"), "from the snapshot");
    return { command: "restic", exitCode: 0, stdout: "", stderr: "" };
  };
  const log = createLogger("restore-order-test");
  log.level = "silent";
  const backups = new Backups({
    stateRoot: join(root, "state"),
    docker: recordingRunner().run,
    restic,
    log,
    onStep: (step) => {
      const note = join(device, "files", "note");
      seen.push(`${step}: volume ${existsSync(note) ? readFileSync(note, "utf8") : "empty"}`);
    },
  });
  return { device, b, backups, seen };
}

describe("a first apply's restore into an empty volume", () => {
  it("flushes the restored data before the folder takes the volume's name", async () => {
    const t = setup();
    const report = await t.backups.restore("shop", t.b, SECRETS, { reason: "first-apply" });
    expect(report.volumes).toMatchObject([{ volume: "data", action: "restored" }]);
    expect(t.seen).toEqual([
      "restic into data.restore-…",
      "restore:downloaded: volume empty",
      "restore:flushed: volume empty",
      "restore:moved: volume from the snapshot",
    ]);
  });

  it("removes the partial restores a killed agent left beside the volume, and nothing else", async () => {
    const t = setup();
    const parent = dirname(t.device);
    mkdirSync(join(parent, "data.restore-4242-1700000000000", "files"), { recursive: true });
    writeFileSync(join(parent, "data.restore-4242-1700000000000", "files", "note"), "half");
    mkdirSync(join(parent, "data.replaced-4242-1700000000000"));
    writeFileSync(join(parent, "other"), "kept");
    await t.backups.restore("shop", t.b, SECRETS, { reason: "first-apply" });
    expect(readdirSync(parent).sort()).toEqual(["data", "data.replaced-4242-1700000000000", "other"]);
    expect(readFileSync(join(t.device, "files", "note"), "utf8")).toBe("from the snapshot");
  });
});

// An operator's restore over a volume that holds data, frozen at each point of its swap (the
// onStep never returns: as if the process died there, its files as they are), then settled by
// another Backups, as the next pass's would. test/system/backup-swap-crash.test.ts kills the real
// agent at these points.
function operatorSetup() {
  const root = mkdtempSync(join(tmpdir(), "berth-restore-swap-"));
  const device = join(root, "volumes", "data", "data");
  mkdirSync(join(device, "files"), { recursive: true });
  writeFileSync(join(device, "files", "note"), "the previous data");
  const b = { ...setup().b, volumes: [{ ...setup().b.volumes[0], device }] } as NodeBackup;
  const snapshots = JSON.stringify([
    { id: "b".repeat(64), short_id: "bbbbbbbb", time: "2026-12-01T00:00:00Z", tags: ["berth-volume=data"] },
  ]);
  const restic: ResticRunner = async (cmd) => {
    if (cmd.args.includes("snapshots"))
      return { command: "restic", exitCode: 0, stdout: snapshots, stderr: "" };
    const target = cmd.args[cmd.args.indexOf("--target") + 1] as string;
    mkdirSync(join(target, "files"), { recursive: true });
    writeFileSync(join(target, "files", "note"), "from the snapshot");
    return { command: "restic", exitCode: 0, stdout: "", stderr: "" };
  };
  const docker = recordingRunner((argv) => (argv.includes("ps") ? { stdout: "c1\n" } : undefined));
  const log = createLogger("restore-swap-test");
  log.level = "silent";
  const make = (onStep?: (step: string) => Promise<void> | void, o: { renames?: boolean } = {}) =>
    new Backups({
      stateRoot: join(root, "state"),
      docker: docker.run,
      restic,
      log,
      ...(onStep ? { onStep } : {}),
      // A node without renameat2's exchange: two renames.
      ...(o.renames ? { exchange: async () => {} } : {}),
    });
  const note = () => {
    const p = join(device, "files", "note");
    return existsSync(p) ? readFileSync(p, "utf8") : "nothing";
  };
  return { device, b, docker, make, note, parent: dirname(device) };
}

/** Starts an operator's restore that stops for good at `point`; resolves once it is there. */
async function freezeAt(t: ReturnType<typeof operatorSetup>, point: string, renames = false): Promise<void> {
  let reached = () => {};
  const there = new Promise<void>((r) => (reached = r));
  const frozen = t.make(
    (step) => {
      if (step !== point) return;
      reached();
      return new Promise<void>(() => {});
    },
    { renames },
  );
  void frozen.restore("shop", t.b, SECRETS, { reason: "operator", force: true });
  await there;
}

// Each point, with the exchange (renameat2 through python3, as on this machine) and with two renames.
const SWAP_POINTS = [
  ...["swap:restored", "swap:journaled", "swap:stopped", "swap:placed", "swap:cleaned"].map((point) => ({
    point,
    renames: false,
  })),
  ...["swap:restored", "swap:journaled", "swap:stopped", "swap:aside", "swap:placed", "swap:cleaned"].map(
    (point) => ({ point, renames: true }),
  ),
];

describe("an operator's restore over a volume's data", () => {
  it.each([false, true])("swaps in this order (two renames: %s)", async (renames) => {
    const t = operatorSetup();
    const seen: string[] = [];
    const backups = t.make(
      (step) => {
        const beside = readdirSync(t.parent)
          .filter((n) => n !== "data")
          .map((n) => n.replace(/-\d+-\d+$/, "-…"))
          .sort();
        seen.push(`${step}: ${t.note()} [${beside.join(" ")}]`);
      },
      { renames },
    );
    const report = await backups.restore("shop", t.b, SECRETS, { reason: "operator", force: true });
    expect(report.volumes).toMatchObject([{ volume: "data", action: "restored", snapshotId: "bbbbbbbb" }]);
    expect(seen).toEqual([
      "swap:restored: the previous data [data.restore-…]",
      "swap:journaled: the previous data [data.restore-… data.swap.json]",
      "swap:stopped: the previous data [data.restore-… data.swap.json]",
      ...(renames
        ? [
            "swap:aside: nothing [data.replaced-… data.restore-… data.swap.json]",
            "swap:placed: from the snapshot [data.replaced-… data.swap.json]",
          ]
        : // Exchanged: the previous data where the restored copy was; never nothing at the path.
          ["swap:placed: from the snapshot [data.restore-… data.swap.json]"]),
      "swap:cleaned: from the snapshot [data.swap.json]",
    ]);
    expect(t.docker.lines().filter((l) => /docker (stop|start)/.test(l))).toEqual([
      "docker stop c1",
      "docker start c1",
    ]);
    expect(readdirSync(t.parent)).toEqual(["data"]);
  });

  it.each(SWAP_POINTS)(
    "cut at $point (two renames: $renames): the volume holds one whole tree; the next pass settles it and says so",
    async ({ point, renames }) => {
      const t = operatorSetup();
      await freezeAt(t, point, renames);
      const placed = ["swap:placed", "swap:cleaned"].includes(point);
      expect(t.note(), `at ${point}`).toBe(
        placed ? "from the snapshot" : point === "swap:aside" ? "nothing" : "the previous data",
      );
      const callsBefore = t.docker.calls.length;
      const settled = await t.make().recoverInterrupted("shop", t.b.volumes);
      // Never nothing at the volume's path after the settle; nothing left beside it.
      expect(t.note()).toBe(placed ? "from the snapshot" : "the previous data");
      expect(readdirSync(t.parent)).toEqual(["data"]);
      expect(settled).toHaveLength(1);
      expect(settled[0]).toMatchObject({
        volume: "data",
        action: placed ? "restored" : "kept",
        ...(point === "swap:restored" ? {} : { snapshotId: "bbbbbbbb" }),
      });
      expect(settled[0]?.detail).toMatch(
        point === "swap:restored"
          ? /cut off before its swap left data\.restore-\d+-\d+: removed it; the volume kept its data/
          : placed
            ? /was cut off during the swap, leaving .*: finished it, the volume holds the snapshot/
            : /was cut off during the swap, leaving .*: rolled back, the volume holds its previous data .*berth-agent restore shop --snapshot bbbbbbbb --force runs it again/,
      );
      // The containers stopped for the swap are started again (those of a journal).
      const after = t.docker.lines().slice(callsBefore);
      expect(after).toEqual(point === "swap:restored" ? [] : ["docker start c1"]);
    },
  );

  it("a first apply after a swap cut between its renames puts the previous data back, and keeps it", async () => {
    const t = operatorSetup();
    await freezeAt(t, "swap:aside", true);
    expect(existsSync(t.device)).toBe(false);
    const report = await t.make().restore("shop", t.b, SECRETS, { reason: "first-apply" });
    expect(report.volumes.map((v) => v.action)).toEqual(["kept", "kept"]);
    expect(report.volumes[0]?.detail).toMatch(
      /no folder at the volume's path, the previous data aside in data\.replaced-/,
    );
    expect(t.note()).toBe("the previous data");
    expect(readdirSync(t.parent)).toEqual(["data"]);
  });

  it("a swap that cannot be told settled is left untouched, said once, and blocks the volume's next restore", async () => {
    const t = operatorSetup();
    await freezeAt(t, "swap:aside", true);
    // Something wrote data of neither tree at the volume's path meanwhile.
    mkdirSync(t.device);
    writeFileSync(join(t.device, "stranger"), "?");
    const backups = t.make();
    const first = await backups.recoverInterrupted("shop", t.b.volumes);
    expect(first).toMatchObject([{ volume: "data", action: "failed", snapshotId: "bbbbbbbb" }]);
    expect(first[0]?.detail).toMatch(
      /nothing was touched; keep the data you want at .*then remove .*data\.swap\.json/,
    );
    const left = readdirSync(t.parent)
      .map((n) => n.replace(/-\d+-\d+$/, "-…"))
      .sort();
    expect(left).toEqual(["data", "data.replaced-…", "data.restore-…", "data.swap.json"]);
    expect(await backups.recoverInterrupted("shop", t.b.volumes)).toEqual([]);
    const report = await backups.restore("shop", t.b, SECRETS, { reason: "operator", force: true });
    expect(report.volumes).toMatchObject([{ volume: "data", action: "failed" }]);
    expect(report.volumes[0]?.detail).toMatch(/an interrupted restore's swap of this volume is unsettled/);
    expect(readdirSync(t.parent).sort().length).toBe(4);
  });
});
