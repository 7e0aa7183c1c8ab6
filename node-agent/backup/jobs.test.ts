// The backup jobs with a recording fake runner for Docker and one for restic: which commands a
// backup, a hook, a stop-and-start, a missing repository and a scheduled pass run, as data.
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import type { NodeBackup } from "../../contract/backup/schema";
import {
  createReleasePayload,
  generateNodeKeyPair,
  generateSigningKeyPair,
  serializeEnvelope,
  signRelease,
  unsealSecrets,
} from "../../contract/payload";
import { createLogger } from "../../lib/log";
import type { Command } from "../compose/commands";
import { ReleaseStore } from "../state/release-store";
import { recordingRunner } from "../testing/recording-runner";
import { Backups, type ResticRunner } from "./backups";
import { BackupJobs } from "./jobs";
import { writeSwapJournal } from "./swap";

const ENV = "shop";
const SECRETS = { "backup-password": "pw-1", "backup-key-id": "kid-1", "backup-secret": "sk-1" };

function quiet() {
  const log = createLogger("backup-jobs-test");
  log.level = "silent";
  return log;
}

function backupOf(root: string, o: Partial<NodeBackup["volumes"][number]> = {}): NodeBackup {
  const device = join(root, "volumes", "data");
  mkdirSync(device, { recursive: true });
  writeFileSync(join(device, "file"), "x");
  return {
    repository: "s3:http://s3.test/bucket/shop",
    region: "us-east-1",
    pruneSchedule: "0 3 * * *",
    checkSchedule: "0 4 * * 0",
    restoreOnFirstApply: true,
    secrets: { password: "backup-password", accessKeyId: "backup-key-id", secretAccessKey: "backup-secret" },
    volumes: [{ name: "data", device, schedule: "0 * * * *", retention: { last: 3 }, stop: [], ...o }],
  };
}

const summary = JSON.stringify({ message_type: "summary", snapshot_id: "abcdef12", data_added: 42 });

/** restic answers by subcommand; `missingRepo`: the first backup finds no repository. */
function fakeRestic(o: { missingRepo?: boolean } = {}) {
  const calls: { args: string[]; cwd: string; env: Record<string, string> }[] = [];
  let missing = o.missingRepo ?? false;
  const run: ResticRunner = async (cmd: Command, opts) => {
    calls.push({ args: cmd.args, cwd: opts.cwd, env: opts.env });
    const sub = cmd.args.find((a) => !a.startsWith("-") && !a.includes("="));
    const ok = { command: "restic", exitCode: 0, stderr: "" };
    if ((sub === "backup" || sub === "cat") && missing)
      return {
        ...ok,
        exitCode: 1,
        stdout: "",
        stderr: "Fatal: repository does not exist: unable to open config file",
      };
    if (sub === "init") missing = false;
    if (sub === "backup") return { ...ok, stdout: `${summary}\n` };
    return { ...ok, stdout: "" };
  };
  const subcommands = () => calls.map((c) => c.args.find((a) => !a.startsWith("-") && !a.includes("=")));
  return { run, calls, subcommands };
}

function setup(
  o: { docker?: Parameters<typeof recordingRunner>[0]; missingRepo?: boolean; now?: () => Date } = {},
) {
  const root = mkdtempSync(join(tmpdir(), "berth-backup-jobs-"));
  const docker = recordingRunner(o.docker);
  const restic = fakeRestic(o);
  const restarted: string[] = [];
  const backups = new Backups({
    stateRoot: root,
    docker: docker.run,
    restic: restic.run,
    log: quiet(),
    restarted: async (env) => void restarted.push(env),
    ...(o.now ? { now: o.now } : {}),
  });
  return { root, docker, restic, restarted, backups };
}

describe("Backups (one volume)", () => {
  it("runs the hooks and stops the listed services around restic backup, in order", async () => {
    const t = setup({
      docker: (argv) => (argv[1] === "ps" ? { stdout: `${argv.at(-3)?.split("=")[2]}-1\n` } : undefined),
    });
    const b = backupOf(t.root, {
      before: { service: "db", command: ["pg_dump", "-f", "/data/dump.sql"] },
      after: { service: "db", command: ["rm", "/data/dump.sql"] },
      stop: ["worker"],
    });
    const run = await t.backups.backupVolume(ENV, t.backups.access(b, SECRETS), b.volumes[0] as never);
    expect(run).toMatchObject({ ok: true, snapshotId: "abcdef12", bytesAdded: 42 });
    expect(t.docker.lines()).toEqual([
      "docker ps --quiet --filter label=berth.environment=shop --filter label=berth.service=db --filter status=running",
      "docker exec db-1 pg_dump -f /data/dump.sql",
      "docker ps --quiet --filter label=berth.environment=shop --filter label=berth.service=worker --filter status=running",
      "docker stop worker-1",
      "docker start worker-1",
      "docker ps --quiet --filter label=berth.environment=shop --filter label=berth.service=db --filter status=running",
      "docker exec db-1 rm /data/dump.sql",
    ]);
    expect(t.restarted).toEqual([ENV]);
    // restic: in the volume's folder, credentials only in its environment.
    expect(t.restic.subcommands()).toEqual(["backup"]);
    const call = t.restic.calls[0];
    expect(call?.cwd).toBe(b.volumes[0]?.device);
    expect(call?.env).toMatchObject({ RESTIC_PASSWORD: "pw-1", AWS_SECRET_ACCESS_KEY: "sk-1" });
    expect(call?.args.join(" ")).not.toMatch(/pw-1|sk-1|kid-1/);
  });

  it("a failing before hook is the outcome: no backup, nothing stopped", async () => {
    const t = setup({
      docker: (argv) =>
        argv[1] === "ps"
          ? { stdout: "db-1\n" }
          : argv[1] === "exec"
            ? { exitCode: 2, stderr: "no space" }
            : undefined,
    });
    const b = backupOf(t.root, { before: { service: "db", command: ["dump"] }, stop: ["worker"] });
    const run = await t.backups.backupVolume(ENV, t.backups.access(b, SECRETS), b.volumes[0] as never);
    expect(run.ok).toBe(false);
    expect(run.error).toBe("the before hook (dump in db) exited with 2: no space");
    expect(t.restic.calls).toEqual([]);
    expect(t.docker.lines().some((l) => l.startsWith("docker stop"))).toBe(false);
  });

  it("creates a missing repository, then backs up again", async () => {
    const t = setup({ missingRepo: true });
    const b = backupOf(t.root);
    const run = await t.backups.backupVolume(ENV, t.backups.access(b, SECRETS), b.volumes[0] as never);
    expect(run.ok).toBe(true);
    expect(t.restic.subcommands()).toEqual(["backup", "cat", "init", "backup"]);
  });

  it("hands restic's JSON progress to the listener as it comes, four lines a second; once a minute without one", async () => {
    const root = mkdtempSync(join(tmpdir(), "berth-backup-progress-"));
    const envs: Record<string, string>[] = [];
    const restic: ResticRunner = async (_cmd, opts) => {
      envs.push(opts.env);
      opts.onStdoutLine?.(
        JSON.stringify({
          message_type: "status",
          percent_done: 0.5,
          total_files: 4,
          files_done: 2,
          total_bytes: 2048,
          bytes_done: 1024,
          seconds_remaining: 2,
        }),
      );
      opts.onStdoutLine?.("not json");
      return { command: "restic", exitCode: 0, stderr: "", stdout: `${summary}\n` };
    };
    const seen: string[] = [];
    const backups = new Backups({
      stateRoot: root,
      docker: recordingRunner().run,
      restic,
      log: quiet(),
      progress: (o, p) =>
        seen.push(
          `${o.what} ${o.volume} ${p.fraction} ${p.bytesDone}/${p.totalBytes} ${p.filesDone}/${p.totalFiles} ${p.secondsRemaining}`,
        ),
    });
    const b = backupOf(root);
    expect(await backups.backupVolume(ENV, backups.access(b, SECRETS), b.volumes[0] as never)).toMatchObject({
      ok: true,
    });
    expect(seen).toEqual(["backup data 0.5 1024/2048 2/4 2"]);
    expect(envs[0]?.RESTIC_PROGRESS_FPS).toBe("4");
    const t = setup();
    await t.backups.backupVolume(ENV, t.backups.access(b, SECRETS), b.volumes[0] as never);
    expect(Number(t.restic.calls[0]?.env.RESTIC_PROGRESS_FPS)).toBeCloseTo(1 / 60);
  });

  it("names a secret the release does not carry", () => {
    const t = setup();
    expect(() => t.backups.access(backupOf(t.root), {})).toThrow(
      "the release carries no value for the backup secret backup-password (repository password)",
    );
  });
});

describe("BackupJobs (the current release's settings)", () => {
  function withRelease(t: ReturnType<typeof setup>, backup: NodeBackup | undefined) {
    const nodeKeys = generateNodeKeyPair();
    const store = (env: string) => new ReleaseStore(join(t.root, "state"), env);
    const compose = stringify({
      services: {},
      "x-berth": {
        environmentId: ENV,
        sequence: 1,
        networks: [],
        volumes: [],
        secrets: {},
        services: [],
        ...(backup ? { backup } : {}),
      },
    });
    const payload = createReleasePayload({
      environmentId: ENV,
      nodeId: "node-1",
      sequence: 1,
      composeText: compose,
      routes: [],
      secrets: SECRETS,
      nodePublicKey: nodeKeys.publicKey,
    });
    const envelope = serializeEnvelope(signRelease(payload, generateSigningKeyPair().privateKey));
    const s = store(ENV);
    s.save(1, { payload: envelope, compose, metadata: { sequence: 1, receivedAt: "", project: "p" } });
    s.setCurrent(1);
    const reported: string[] = [];
    const unsealed: number[] = [];
    const jobs = new BackupJobs({
      backups: t.backups,
      store,
      unseal: (r) => {
        unsealed.push(r.sequence);
        return Object.fromEntries(unsealSecrets(r.payload, nodeKeys.privateKey));
      },
      reportBackup: async (env) => void reported.push(env),
      environments: () => [ENV],
      mountDisk: async () => {},
      log: quiet(),
    });
    return { jobs, reported, unsealed };
  }

  it("backs up with the current release's settings and secrets, then reports", async () => {
    const t = setup();
    const { jobs, reported } = withRelease(t, backupOf(t.root));
    const runs = await jobs.backupNow(ENV);
    expect(runs.map((r) => [r.volume, r.run.ok])).toEqual([["data", true]]);
    expect(t.restic.calls[0]?.env.RESTIC_PASSWORD).toBe("pw-1");
    expect(reported).toEqual([ENV]);
    expect(t.backups.status(ENV)?.volumes[0]?.last?.snapshotId).toBe("abcdef12");
  });

  it("opens the release's secrets only when a scheduled job is due, not at every poll", async () => {
    let now = new Date("2026-12-07T10:30:00Z");
    const t = setup({ now: () => now });
    const { jobs, unsealed } = withRelease(t, backupOf(t.root));
    for (let i = 0; i < 5; i++) {
      now = new Date(now.getTime() + 60_000);
      await jobs.tick();
    }
    expect(t.restic.calls).toEqual([]);
    expect(unsealed).toEqual([]);
    now = new Date("2026-12-07T11:00:30Z");
    await jobs.tick();
    expect(t.restic.subcommands()).toEqual(["backup"]);
    expect(t.restic.calls[0]?.env.RESTIC_PASSWORD).toBe("pw-1");
    expect(unsealed).toEqual([1]);
  });

  it("says why there is nothing to back up", async () => {
    const t = setup();
    const none = withRelease(t, undefined);
    await expect(none.jobs.backupNow(ENV)).rejects.toThrow("shop's release 1 declares no backups");
    await expect(none.jobs.snapshots("other")).rejects.toThrow(
      "other has no applied release on this node, so no backup settings: apply it first",
    );
  });

  it("prunes each volume with its retention, and runs a requested restore only once", async () => {
    const t = setup();
    const b = { ...backupOf(t.root), restore: { volume: "data", force: false } };
    const { jobs } = withRelease(t, b);
    expect((await jobs.pruneNow(ENV)).ok).toBe(true);
    expect(t.restic.calls.at(-1)?.args).toEqual(
      expect.arrayContaining(["forget", "--prune", "--keep-last", "3"]),
    );
    const release = new ReleaseStore(join(t.root, "state"), ENV).release(1);
    await jobs.requestedRestore(ENV, release);
    const after = t.restic.calls.length;
    expect(t.restic.subcommands().slice(-1)).toEqual(["snapshots"]);
    await jobs.requestedRestore(ENV, release);
    expect(t.restic.calls.length).toBe(after);
  });

  it("a pass settles a swap a killed restore left (named as the backups name the volume) and reports it; not while a restore holds the lock", async () => {
    const t = setup();
    const b = backupOf(t.root);
    const { jobs, reported } = withRelease(t, b);
    const device = b.volumes[0]?.device as string;
    // Cut between the renames: no folder at the volume's path, the previous data aside.
    const aside = `${device}.replaced-1-2`;
    renameSync(device, aside);
    const restored = `${device}.restore-1-2`;
    mkdirSync(restored);
    writeSwapJournal({
      volume: "data",
      device,
      restored,
      aside,
      restoredIno: statSync(restored).ino,
      previousIno: statSync(aside).ino,
      snapshot: { id: "c".repeat(64), shortId: "cccccccc", time: "2026-12-01T00:00:00Z" },
      containers: ["c1"],
      at: "2026-12-07T12:00:00Z",
    });
    const held = t.backups.lock(ENV);
    await jobs.tick();
    expect(existsSync(device)).toBe(false);
    held.release();
    await jobs.tick();
    expect(readFileSync(join(device, "file"), "utf8")).toBe("x");
    expect(readdirSync(dirname(device))).toEqual(["data"]);
    expect(t.docker.lines()).toEqual(["docker start c1"]);
    expect(t.restarted).toEqual([ENV]);
    expect(reported).toEqual([ENV]);
    expect(t.backups.status(ENV)?.restore).toMatchObject({
      reason: "operator",
      volumes: [{ volume: "data", action: "kept", snapshotId: "cccccccc" }],
    });
    // Nothing left: the next passes do not take the lock or report again.
    await jobs.tick();
    expect(reported).toEqual([ENV]);
  });
});
