// Backups of an environment's volumes with real restic, versitygw and Docker, all on 127.0.0.1:
// a store volume backed up, the node lost (state, volume folders, containers, Docker volumes) and
// replaced: the data is restored before the first apply, byte for byte, and the app serves it;
// a failing bucket is reported in the status with its reason while the app keeps answering;
// retention prunes as declared; an older snapshot is restored on request (CLI); no backup secret
// appears in plain text in the channel, the node's state files or the logs.
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nodeIo } from "../../cli/io";
import { main as berthMain } from "../../cli/main";
import { AGENT_BUNDLE } from "../../components/runtime-path";
import { type EnvironmentBackup, environmentBackupSchema } from "../../contract/backup/schema";
import { readStatus } from "../../contract/channel/publish";
import { type Manifest, parseManifest } from "../../contract/manifest/schema";
import { createLogger } from "../../lib/log";
import { run } from "../../lib/process";
import { AgentHarness, storeManifest } from "./support/agent-harness";
import {
  agentCli,
  backupSecrets,
  environmentBackup,
  serviceContainer,
  volumeFolder,
} from "./support/environment-backup";
import { testAppImage } from "./support/test-app-image";
import { Versitygw } from "./support/versitygw";

const ENV = `files-${Math.random().toString(36).slice(2, 6)}`;
const h = new AgentHarness();
const gw = new Versitygw();
const password = `restic-pw-${Math.random().toString(36).slice(2)}-${Math.random().toString(36).slice(2)}`;
let image = "";
const dbPassword = `db-pw-${Math.random().toString(36).slice(2)}`;
const dbUrl = `postgres://app:${dbPassword}@db`;
let backup: EnvironmentBackup;
let secrets: Record<string, string>;
const logs = new PassThrough();
let logText = "";
logs.on("data", (d) => (logText += String(d)));
const log = createLogger("berth-agent-test", logs);

/** The store service (serves /data on :9000, routed at files.test). */
function manifest(): Manifest {
  return storeManifest(image);
}

const device = () => volumeFolder(h, ENV);
const sha = (p: string) => createHash("sha256").update(readFileSync(p)).digest("hex");

async function exec(script: string): Promise<string> {
  return (await run("docker", ["exec", await serviceContainer(ENV, "store"), "sh", "-c", script])).stdout;
}

async function status() {
  const s = await readStatus(h.channel, h.nodeId, ENV);
  if (!s) throw new Error("no status");
  return s;
}

const cli = (...args: string[]) => agentCli(h, ...args);

async function berth(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const io = { ...nodeIo(), out: (s: string) => (out += `${s}\n`), err: (s: string) => (err += `${s}\n`) };
  const code = await berthMain(args, io);
  return { code, out, err };
}

/** Every file under a folder, as text (binary files too: a secret must not appear in any). */
function allText(dir: string): string {
  let out = "";
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile() && st.size < 5_000_000) out += readFileSync(p, "latin1");
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

beforeAll(async () => {
  image = await testAppImage();
  await gw.start();
  backup = environmentBackup(gw, "berth-backups", {
    prefix: "test",
    schedule: "0 3 * * *",
    retention: { last: 2 },
  });
  secrets = backupSecrets(gw, password);
  await h.start({ healthTimeoutSeconds: 30, log });
}, 600_000);

afterAll(async () => {
  await h.cleanup([ENV]);
  await gw.cleanup();
});

describe("backups of an environment's volumes", () => {
  let first: Record<string, string> = {};

  it("backs the store's volume up; the outcome is in the node's status", async () => {
    const s = await h.deploy(ENV, 1, manifest(), { backup, secrets });
    expect(s.state, s.error).toBe("applied");
    await exec(
      "mkdir -p /data/files && head -c 3000000 /dev/urandom > /data/files/blob && echo first > /data/files/note && ln -s note /data/files/link",
    );
    first = { blob: sha(join(device(), "files", "blob")), note: "first\n" };
    const r = await cli("backup", ENV);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(
      new RegExp(
        `${ENV}/data: snapshot [0-9a-f]{8} in ([0-9.]+ m?s|[0-9]+ min [0-9]+ s), [0-9.]+ (B|KiB|MiB|GiB) added`,
      ),
    );
    const b = (await status()).backup;
    expect(b?.state).toBe("ok");
    expect(b?.repository).toBe(`s3:${gw.endpoint}/berth-backups/test/${ENV}`);
    expect(b?.volumes[0]?.last).toMatchObject({
      ok: true,
      snapshotId: expect.stringMatching(/^[0-9a-f]{8}$/),
    });
    expect(b?.volumes[0]?.last?.bytesAdded).toBeGreaterThan(3_000_000);
    expect((await status()).state).toBe("applied");
  }, 120_000);

  it("reports an unreachable bucket and a wrong password with their reasons; the app keeps answering", async () => {
    await gw.stop();
    try {
      const r = await cli("backup", ENV);
      expect(r.code).toBe(1);
      const last = (await status()).backup?.volumes[0]?.last;
      expect(last?.ok).toBe(false);
      expect(last?.error).toMatch(
        /the bucket is unreachable at s3:http:\/\/127\.0\.0\.1:\d+\/berth-backups\/test\/.*connection refused/,
      );
      expect((await status()).backup?.state).toBe("failing");
      expect((await h.get("/files/note", "files.test")).body).toBe("first");
    } finally {
      await gw.start();
    }
    // A release whose backup password is wrong: the app still applies and answers, the backup fails.
    const s = await h.deploy(ENV, 2, manifest(), {
      backup,
      secrets: { ...secrets, "backup-password": "not-the-password" },
    });
    expect(s.state, s.error).toBe("applied");
    const r = await cli("backup", ENV);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/backup failed: backup: wrong repository password/);
    expect((await status()).backup?.volumes[0]).toMatchObject({
      last: { ok: false, error: expect.stringMatching(/wrong repository password/) },
      lastSuccess: { ok: true },
    });
    expect((await h.get("/files/note", "files.test")).body).toBe("first");
    // Visible without the node: berth status reads the channel.
    const st = await berth("status", ENV, "--channel", h.channelDir);
    expect(st.code).toBe(1);
    expect(st.out).toMatch(/backups: failing/);
    expect(st.out).toMatch(/data: FAILED at .*wrong repository password/);
    expect(st.out).toMatch(/last success: .*\(/);
    expect((await h.deploy(ENV, 3, manifest(), { backup, secrets })).state).toBe("applied");
  }, 180_000);

  it("prunes to the declared retention (last 2)", async () => {
    for (const n of ["second", "third", "fourth"]) {
      await exec(`echo ${n} > /data/files/note`);
      if (n !== "second") {
        expect((await cli("backup", ENV)).code).toBe(0);
        continue;
      }
      // At a terminal (the bundled agent under a pseudo-terminal): restic's progress, one line
      // redrawn on stderr, then the result.
      await exec("head -c 20000000 /dev/urandom > /data/files/blob2");
      const tty = await run(
        "script",
        ["-qefc", `node ${AGENT_BUNDLE} backup ${ENV} --config ${h.configFile}`, "/dev/null"],
        { allowFailure: true, timeoutMs: 120_000 },
      );
      expect(tty.exitCode, tty.stdout + tty.stderr).toBe(0);
      const erase = "\r\u001b[K";
      expect(tty.stdout).toContain(`${erase}backing up data: `);
      expect(tty.stdout).toMatch(
        /backing up data: \d+% [0-9.]+ (B|KiB|MiB) of [0-9.]+ MiB, \d+ of \d+ files/,
      );
      expect(tty.stdout).toContain(`${erase}${ENV}/data: snapshot `);
      logText += tty.stdout;
    }
    expect((await h.agent.snapshots(ENV)).length).toBe(4);
    const p = await cli("prune", ENV);
    expect(p.code, p.out + p.err).toBe(0);
    expect(p.out).toMatch(new RegExp(`${ENV}: prune ok`));
    const left = await h.agent.snapshots(ENV);
    expect(left.length).toBe(2);
    const r = await cli("snapshots", ENV);
    expect(r.out.trim().split("\n")).toHaveLength(2);
    const st = await berth("status", ENV, "--channel", h.channelDir);
    expect(st.code, st.out).toBe(0);
    expect(st.out).toMatch(/backups: ok/);
    expect(st.out).toMatch(/prune: ok at /);
  }, 180_000);

  it("restores a chosen older snapshot only with --force when the volume's data is newer", async () => {
    const [older] = await h.agent.snapshots(ENV); // "third"
    await exec("echo fifth > /data/files/note");
    const refused = await cli("restore", ENV, "--snapshot", older?.shortId as string);
    expect(refused.code).toBe(1);
    expect(refused.out).toMatch(/data: kept: .*newer than the snapshot, not replaced \(add --force/);
    expect(readFileSync(join(device(), "files", "note"), "utf8")).toBe("fifth\n");
    const forced = await cli("restore", ENV, "--snapshot", older?.shortId as string, "--force");
    expect(forced.code, forced.out + forced.err).toBe(0);
    expect(forced.out).toMatch(/data: restored: replaced the volume's data/);
    expect(readFileSync(join(device(), "files", "note"), "utf8")).toBe("third\n");
    // The store was stopped for the swap and started again: it serves the restored data.
    for (let i = 0; i < 50; i++) {
      if ((await h.get("/files/note", "files.test").catch(() => ({ body: "" }))).body === "third") break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect((await h.get("/files/note", "files.test")).body).toBe("third");
    await exec("echo final > /data/files/note");
    expect((await cli("backup", ENV)).code).toBe(0);
    first.note = "final\n";
  }, 180_000);

  it("restores a snapshot asked through the program (backup.restore) once, after the release applied", async () => {
    const snaps = await h.agent.snapshots(ENV); // third, fourth, final
    const fourth = snaps.at(-2);
    const asked = environmentBackupSchema.parse({
      ...backup,
      restore: { snapshot: fourth?.shortId, force: true },
    });
    const s = await h.deploy(ENV, 4, manifest(), { backup: asked, secrets });
    expect(s.state, s.error).toBe("applied");
    expect(s.backup?.restore).toMatchObject({
      reason: "operator",
      volumes: [{ volume: "data", action: "restored", snapshotId: fourth?.shortId }],
    });
    expect(readFileSync(join(device(), "files", "note"), "utf8")).toBe("fourth\n");
    // The same request in a later release does not restore again.
    await exec("echo final2 > /data/files/note");
    expect((await cli("backup", ENV)).code).toBe(0);
    expect((await h.deploy(ENV, 5, manifest(), { backup: asked, secrets })).state).toBe("applied");
    expect(readFileSync(join(device(), "files", "note"), "utf8")).toBe("final2\n");
    first.note = "final2\n";
  }, 180_000);

  it("a replacement node restores the volume before its first apply: byte for byte, served by the app", async () => {
    // The node is lost: its containers, Docker volumes, proxy, state and volume folders.
    await h.loseNode(ENV);

    // A new node (new keys), and the program publishes the environment for it.
    await h.start({ healthTimeoutSeconds: 30, log });
    const s = await h.deploy(ENV, 6, manifest(), { backup, secrets });
    expect(s.state, s.error).toBe("applied");
    expect(sha(join(device(), "files", "blob"))).toBe(first.blob);
    expect(readFileSync(join(device(), "files", "note"), "utf8")).toBe(first.note);
    expect(readFileSync(join(device(), "files", "link"), "utf8")).toBe(first.note);
    expect((await h.get("/files/note", "files.test")).body).toBe((first.note ?? "").trim());
    const restore = s.backup?.restore;
    expect(restore).toMatchObject({
      reason: "first-apply",
      volumes: [{ volume: "data", action: "restored" }],
    });
    expect(restore?.volumes[0]?.detail).toMatch(/into the empty volume/);
  }, 240_000);

  it("a first apply never overwrites a volume that holds data; it says what it found", async () => {
    await h.proxy.stop();
    const ids = (await run("docker", ["ps", "-aq", "--filter", `label=berth.environment=${ENV}`])).stdout
      .split("\n")
      .filter(Boolean);
    await run("docker", ["rm", "-f", ...ids]);
    rmSync(h.stateRoot, { recursive: true, force: true }); // state lost, the volume kept (a reattached disk)
    const before = sha(join(device(), "files", "blob"));
    await h.start({ healthTimeoutSeconds: 30, log });
    const s = await h.deploy(ENV, 7, manifest(), { backup, secrets });
    expect(s.state, s.error).toBe("applied");
    expect(s.backup?.restore?.volumes[0]).toMatchObject({ action: "kept" });
    expect(s.backup?.restore?.volumes[0]?.detail).toMatch(/kept the volume's data/);
    expect(sha(join(device(), "files", "blob"))).toBe(before);
  }, 240_000);

  it("a failing hook that prints a secret its service was given: the status and logs say [secret]", async () => {
    // The store gets a sealed secret in its environment; its before-hook fails, printing it (as a
    // dump tool prints its connection string).
    const m = storeManifest(image);
    const leaky = parseManifest({
      ...m,
      services: {
        store: {
          ...m.services.store,
          environment: { ROLE: { value: "store" }, DB_URL: { secret: "db-url" } },
        },
      },
      volumes: {
        data: {
          labels: {},
          backup: {
            enabled: true,
            before: {
              service: "store",
              command: ["sh", "-c", 'echo "cannot connect to $DB_URL" >&2; exit 2'],
            },
            stop: [],
          },
        },
      },
    });
    const s = await h.deploy(ENV, 8, leaky, { backup, secrets: { ...secrets, "db-url": dbUrl } });
    expect(s.state, s.error).toBe("applied");
    const r = await cli("backup", ENV);
    expect(r.code).toBe(1);
    const error = (await status()).backup?.volumes[0]?.last?.error;
    expect(error).toMatch(/the before hook .* exited with 2: cannot connect to \[secret\]$/);
    expect(`${r.out}${r.err}`).toMatch(/\[secret\]/);
    expect(`${r.out}${r.err}`).not.toContain(dbPassword);
  }, 120_000);

  it("no backup password or bucket key in plain text in the channel, the node's state or the logs", async () => {
    const texts = [allText(h.channelDir), allText(join(h.stateRoot, "environments")), logText];
    for (const t of texts) {
      expect(t.length).toBeGreaterThan(0);
      for (const secret of [password, gw.secretKey, "not-the-password", dbPassword])
        expect(t).not.toContain(secret);
    }
  });
});
