// A holder's backup jobs with a recording Docker runner and a fake restic (the real ones:
// test/system/swarm-backup.test.ts): the volume's folder from its engine, the restore before a
// join (the volume created first, done once per order), only the maintainer prunes and checks.
import { mkdirSync, mkdtempSync, readdirSync, renameSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { FolderChannelStore } from "../../contract/channel/folder-store";
import { generateNodeKeyPair, generateSigningKeyPair } from "../../contract/payload";
import { type SwarmBackup, swarmBackupSchema } from "../../contract/swarm/backups";
import { createLogger } from "../../lib/log";
import { Backups, type ResticRunner } from "../backup/backups";
import { writeSwapJournal } from "../backup/swap";
import type { Command } from "../compose/commands";
import { recordingRunner } from "../testing/recording-runner";
import { HeldBackupOrders, publishBackupOrders } from "./backup-pass";
import { HeldBackupJobs } from "./held-backups";

const leader = generateSigningKeyPair();
const web2 = generateNodeKeyPair();
const SECRETS = {
  "backup-password": "pw-7",
  "backup-access-key-id": "ak-7",
  "backup-secret-access-key": "sk-7",
};

function backupWith(o: { restore?: boolean; schedule?: string } = {}): SwarmBackup {
  return swarmBackupSchema.parse({
    repository: "s3:http://s3.test/b/shop",
    region: "auto",
    pruneSchedule: "* * * * *",
    checkSchedule: "* * * * *",
    restoreOnFirstApply: o.restore ?? true,
    secrets: {
      password: "backup-password",
      accessKeyId: "backup-access-key-id",
      secretAccessKey: "backup-secret-access-key",
    },
    volumes: [
      { name: "data", node: "web-2", schedule: o.schedule ?? "0 3 * * *", retention: { last: 3 }, stop: [] },
    ],
  });
}

async function setup(
  o: {
    restore?: boolean;
    schedule?: string;
    maintainer?: boolean;
    volumeExists?: boolean;
    failRestore?: boolean;
  } = {},
) {
  const dir = mkdtempSync(join(tmpdir(), "berth-held-backups-"));
  const channel = new FolderChannelStore(join(dir, "channel"));
  const backup = backupWith(o);
  const members = [
    { nodeId: "web-2", publicKey: web2.publicKey },
    { nodeId: "web-1", publicKey: generateNodeKeyPair().publicKey },
  ];
  const b =
    o.maintainer === false
      ? {
          ...backup,
          volumes: [
            ...backup.volumes,
            { ...backup.volumes[0], name: "aaa", node: "web-1" } as SwarmBackup["volumes"][number],
          ],
        }
      : backup;
  await publishBackupOrders(channel, {
    group: "web",
    statusPrivateKey: leader.privateKey,
    statusPublicKey: leader.publicKey,
    environments: [{ environmentId: "shop", sequence: 2, backup: b, secrets: SECRETS }],
    memo: new Map(),
    members,
  });
  const orders = new HeldBackupOrders(join(dir, "state"), {
    nodeId: "web-2",
    nodePrivateKey: web2.privateKey,
  });
  await orders.refresh(channel, { group: "web", leaderStatusKey: leader.publicKey });
  const mountpoint = join(dir, "engine", "volumes", "berth_shop_data", "_data");
  let created = o.volumeExists ?? false;
  if (created) mkdirSync(mountpoint, { recursive: true });
  const docker = recordingRunner((argv) => {
    if (argv[2] === "inspect")
      return created ? { stdout: `${mountpoint}\n` } : { exitCode: 1, stderr: "no such volume" };
    if (argv[2] === "create") {
      created = true;
      mkdirSync(mountpoint, { recursive: true });
    }
    return undefined;
  });
  const restic: string[] = [];
  const run: ResticRunner = async (cmd: Command, opts) => {
    const sub = cmd.args.find((a) => !a.startsWith("-") && !a.includes("=")) ?? "";
    restic.push(`${sub} ${opts.env.RESTIC_PASSWORD === "pw-7" ? "(password given)" : "(NO PASSWORD)"}`);
    if (sub === "restore" && o.failRestore)
      return {
        command: "restic",
        exitCode: 1,
        stdout: "",
        stderr: "Fatal: unable to open repository: connection refused",
      };
    if (sub === "restore") {
      const target = cmd.args[cmd.args.indexOf("--target") + 1] as string;
      mkdirSync(target, { recursive: true });
      writeFileSync(join(target, "restored"), "x");
    }
    if (sub === "backup")
      return {
        command: "restic",
        exitCode: 0,
        stderr: "",
        stdout: `${JSON.stringify({ message_type: "summary", snapshot_id: "abcdef12", data_added: 1 })}\n`,
      };
    return { command: "restic", exitCode: 0, stdout: "", stderr: "" };
  };
  const log = createLogger("held-backups-test");
  log.level = "silent";
  const reports: string[] = [];
  const clock = { now: new Date("2026-12-06T10:00:30Z") };
  const jobs = new HeldBackupJobs({
    orders,
    backups: new Backups({
      stateRoot: join(dir, "state", "swarm"),
      docker: docker.run,
      restic: run,
      log,
      now: () => clock.now,
    }),
    docker: docker.run,
    log,
    report: async (env, sequence) => {
      reports.push(`${env}@${sequence}`);
    },
  });
  return { jobs, docker, restic, reports, mountpoint, clock };
}

describe("a holder's backup jobs", () => {
  it("before it joins: creates the volume on its engine, fills it from the newest snapshot, once per order", async () => {
    const { jobs, docker, restic, reports, mountpoint } = await setup();
    expect(await jobs.restoreBeforeJoin("web")).toBeUndefined();
    expect(docker.lines()).toContain("docker volume create --label berth.environment=shop berth_shop_data");
    expect(restic).toEqual(["restore (password given)"]);
    expect(jobs.status("shop")?.restore?.volumes).toEqual([
      expect.objectContaining({ volume: "data", action: "restored" }),
    ]);
    expect(reports).toEqual(["shop@2"]);
    expect(readdirSync(mountpoint)).toEqual(["restored"]);
    // Done for this order: the next pass joins without asking restic again.
    expect(await jobs.restoreBeforeJoin("web")).toBeUndefined();
    expect(restic).toHaveLength(1);
    expect(await jobs.restoreBeforeJoin("other")).toBeUndefined();
  });

  it("a restore that fails keeps the node out of the swarm, with the reason; restoreOnFirstApply false restores nothing", async () => {
    const failing = await setup({ failRestore: true });
    expect(await failing.jobs.restoreBeforeJoin("web")).toMatch(
      /^not joining before the volumes it holds are restored: shop: data: restoring the newest snapshot: .*connection refused/,
    );
    const off = await setup({ restore: false });
    expect(await off.jobs.restoreBeforeJoin("web")).toBeUndefined();
    expect(off.restic).toEqual([]);
  });

  it("backs up its volume at the folder its engine reports, on the schedule; only the maintainer prunes and checks", async () => {
    const maintainer = await setup({ schedule: "* * * * *", volumeExists: true });
    const runs = await maintainer.jobs.backupNow("shop");
    expect(runs[0]?.run).toMatchObject({ ok: true, snapshotId: "abcdef12" });
    expect(maintainer.restic).toEqual(["backup (password given)"]);
    // On the schedule: the first pass starts the record, two minutes later all is due.
    await maintainer.jobs.tick();
    maintainer.clock.now = new Date("2026-12-06T10:02:30Z");
    await maintainer.jobs.tick();
    expect(maintainer.restic.slice(1)).toEqual([
      "backup (password given)",
      "cat (password given)",
      "forget (password given)",
      "cat (password given)",
      "check (password given)",
    ]);
    expect(maintainer.reports).toContain("shop@2");
    // A holder that is not the first (web-1 holds `aaa` and maintains): its backups only.
    const other = await setup({ schedule: "* * * * *", volumeExists: true, maintainer: false });
    expect(other.jobs.environments()).toEqual(["shop"]);
    await other.jobs.tick();
    other.clock.now = new Date("2026-12-06T10:02:30Z");
    await other.jobs.tick();
    expect(other.restic).toEqual(["backup (password given)"]);
    await expect(other.jobs.backupNow("blog")).rejects.toThrow(/holds no volume of blog/);
    // Only the volumes it holds: web-1's is not backed up here.
    await expect(other.jobs.backupNow("shop", ["aaa"])).rejects.toThrow(
      /shop backs up no volume aaa \(backed up: data\)/,
    );
  });

  it("asks its engine for the volume's folder once per order, not at every pass, once the volume exists", async () => {
    const inspects = (d: { lines: () => string[] }) =>
      d.lines().filter((l) => l.includes(" inspect ")).length;
    const absent = await setup({ schedule: "0 3 * * *" });
    await absent.jobs.tick();
    await absent.jobs.tick();
    // No volume yet: asked again at each pass, since a task may create it any time.
    const before = inspects(absent.docker);
    expect(before).toBeGreaterThanOrEqual(2);
    await absent.jobs.restoreBeforeJoin("web");
    await absent.jobs.tick();
    const known = inspects(absent.docker);
    await absent.jobs.tick();
    await absent.jobs.tick();
    expect(inspects(absent.docker)).toBe(known);
    // The folder it keeps is the engine's: a due backup runs there.
    absent.clock.now = new Date("2026-12-07T03:00:30Z");
    await absent.jobs.tick();
    expect(absent.restic).toContain("backup (password given)");
    expect(inspects(absent.docker)).toBe(known);
  });

  it("settles a restore's swap that was cut off here at its next pass, and reports it", async () => {
    const t = await setup({ schedule: "0 3 * * *", volumeExists: true });
    writeFileSync(join(t.mountpoint, "previous"), "x");
    // Cut between the renames: no folder at the volume's path, its data aside.
    const aside = `${t.mountpoint}.replaced-1-2`;
    const restored = `${t.mountpoint}.restore-1-2`;
    renameSync(t.mountpoint, aside);
    mkdirSync(restored);
    writeSwapJournal({
      volume: "data",
      device: t.mountpoint,
      restored,
      aside,
      restoredIno: statSync(restored).ino,
      previousIno: statSync(aside).ino,
      snapshot: { id: "d".repeat(64), shortId: "dddddddd", time: "2026-12-01T00:00:00Z" },
      containers: [],
      at: "2026-12-06T10:00:00Z",
    });
    await t.jobs.tick();
    expect(readdirSync(t.mountpoint)).toEqual(["previous"]);
    expect(readdirSync(dirname(t.mountpoint))).toEqual(["_data"]);
    expect(t.reports).toEqual(["shop@2"]);
    expect(t.jobs.status("shop")?.restore?.volumes).toMatchObject([
      { volume: "data", action: "kept", snapshotId: "dddddddd" },
    ]);
  });
});
