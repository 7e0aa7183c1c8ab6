// bench:backup — berth's backups against plain restic, side by side in one run, on a 1 GiB
// volume of mixed files (large incompressible ones and many small text files) in versitygw:
//   1. first backup (repository created + full backup): the agent's Backups vs `restic init` +
//      `restic backup .` of the same folder (runs interleaved, medians);
//   2. an incremental backup after 1% of the files changed, both again;
//   3. restore onto a fresh node until the app answers through the node's proxy (the agent's
//      first apply: restore, then apply) vs the same by hand: a plain `restic restore latest`
//      with an empty restic cache (a new node has none; the backups' warm cache would make it a
//      different task) into a folder, then `docker compose up -d --wait` of the same image with
//      that folder as its volume, until the app answers on its port (bench:recover's plain way);
//      interleaved, medians, each after a `sync`. Each fresh node's time is split into restic's
//      restore (from the agent's pass start), the flush of the restored data, and the app's start
//      until it answered (the agent's restore steps, Backups' onStep); each plain run's into
//      restic and compose up until answering. The restore alone (berth's restic + flush against
//      plain restic, which leaves its data in the page cache) is printed beside it.
// The data lives in a temporary folder, removed at the end (as are the repositories).
// Targets (issue 22): a first backup ≤ 1.05x plain restic, a restore until the app answers ≤ 1.1x
// the plain restore until the app answers.
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { environmentBackupSchema } from "../contract/backup/schema";
import { parseManifest } from "../contract/manifest/schema";
import { renderBackup } from "../contract/render/node-compose";
import { createLogger } from "../lib/log";
import { run } from "../lib/process";
import { Backups } from "../node-agent/backup/backups";
import { dockerRunner } from "../node-agent/docker";
import { AgentHarness, freePort, httpGet, storeManifest } from "../test/system/support/agent-harness";
import { testAppImage } from "../test/system/support/test-app-image";
import { Versitygw } from "../test/system/support/versitygw";

// Five interleaved runs: on a shared 2-core machine one restic run of the same snapshot takes
// anywhere from 3.6 to 7.4 s; the medians of three swung the restore ratio by ±0.3.
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const TOTAL = Number(process.env.BENCH_BACKUP_BYTES ?? 1024 ** 3);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const list = (xs: number[]) => xs.map((x) => (x / 1000).toFixed(2)).join(" ");
const RUN = Math.random().toString(36).slice(2, 6);
const WORDS = "volume node release backup restore channel proxy health sequence digest snapshot bucket".split(
  " ",
);

/** ~60% in 4 MiB incompressible files, ~40% in ~32 KiB text files; returns the file paths. */
function generate(dir: string): string[] {
  const files: string[] = [];
  let written = 0;
  let i = 0;
  mkdirSync(join(dir, "media"), { recursive: true });
  while (written < TOTAL * 0.6) {
    const p = join(dir, "media", `blob-${i++}.bin`);
    writeFileSync(p, randomBytes(4 * 1024 * 1024));
    written += 4 * 1024 * 1024;
    files.push(p);
  }
  i = 0;
  while (written < TOTAL) {
    const sub = join(dir, "docs", String(Math.floor(i / 500)));
    if (i % 500 === 0) mkdirSync(sub, { recursive: true });
    const lines: string[] = [];
    let n = 0;
    const size = 16 * 1024 + Math.floor(Math.random() * 32 * 1024);
    while (n < size) {
      const line = `${WORDS[i % WORDS.length]} ${Math.random().toString(36).slice(2)} ${WORDS[(i * 7 + n) % WORDS.length]} ${n}\n`;
      lines.push(line);
      n += line.length;
    }
    const p = join(sub, `doc-${i++}.txt`);
    writeFileSync(p, lines.join(""));
    written += n;
    files.push(p);
  }
  return files;
}

function folderBytes(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) total += statSync(join(e.parentPath, e.name)).size;
  }
  return total;
}

async function main() {
  const root = mkdtempSync(join(tmpdir(), "berth-bench-backup-"));
  const gw = new Versitygw();
  const h = new AgentHarness();
  const log = createLogger("bench-backup");
  log.level = "warn";
  try {
    const src = join(root, "volume");
    const t0 = Date.now();
    const files = generate(src);
    console.log(
      `data: ${files.length} files, ${(folderBytes(src) / 1024 ** 2).toFixed(0)} MiB (generated in ${sec(Date.now() - t0)})`,
    );
    const image = await testAppImage();
    await gw.start();
    gw.bucket("bench");
    const password = `bench-${randomBytes(12).toString("hex")}`;
    const secrets = {
      "backup-password": password,
      "backup-access-key-id": gw.accessKey,
      "backup-secret-access-key": gw.secretKey,
    };
    const resticEnv = (repo: string, cache: string) => ({
      RESTIC_REPOSITORY: `s3:${gw.endpoint}/bench/${repo}`,
      RESTIC_PASSWORD: password,
      AWS_ACCESS_KEY_ID: gw.accessKey,
      AWS_SECRET_ACCESS_KEY: gw.secretKey,
      RESTIC_CACHE_DIR: join(root, cache),
    });
    const opts = ["--option", "s3.region=us-east-1", "--option", "s3.bucket-lookup=path"];
    const plain = async (repo: string, ...args: string[]) =>
      run("restic", [...opts, ...args], {
        cwd: src,
        env: resticEnv(repo, `cache-${repo}`),
        timeoutMs: 3600_000,
      });
    /** A new node has no restic cache: the plain restore starts from an empty one too. */
    const plainCold = async (repo: string, ...args: string[]) =>
      run("restic", [...opts, ...args], {
        cwd: root,
        env: resticEnv(repo, `cold-cache-${repo}`),
        timeoutMs: 3600_000,
      });

    /** berth's backup of the folder as volume "data" of environment `env` (repository bench/<env>). */
    const berthBackup = async (env: string) => {
      const backups = new Backups({ stateRoot: join(root, `state-${env}`), docker: dockerRunner(), log });
      const b = environmentBackupSchema.parse({
        target: { endpoint: gw.endpoint, bucket: "bench", region: "us-east-1" },
        retention: { last: 3 },
      });
      const m = storeManifest(image);
      const nb = { ...renderBackup(m, env, root, b) };
      nb.volumes = nb.volumes.map((v) => ({ ...v, device: src }));
      const t = Date.now();
      const [r] = await backups.backupNow(env, nb, secrets);
      if (!r?.run.ok) throw new Error(`berth backup failed: ${r?.run.error}`);
      return { ms: Date.now() - t, bytesAdded: r.run.bytesAdded ?? 0 };
    };

    // 1. First backups, interleaved.
    const plainMs: number[] = [];
    const berthMs: number[] = [];
    let lastBerthEnv = "";
    let lastPlainRepo = "";
    for (let i = 0; i < RUNS; i++) {
      lastPlainRepo = `plain-${RUN}-${i}`;
      lastBerthEnv = `bench-${RUN}-${i}`;
      const plainRun = async () => {
        const t = Date.now();
        await plain(lastPlainRepo, "init");
        await plain(lastPlainRepo, "backup", "--host", "bench", ".");
        plainMs.push(Date.now() - t);
      };
      const berthRun = async () => {
        const t = Date.now();
        await berthBackup(lastBerthEnv);
        berthMs.push(Date.now() - t);
      };
      // Alternate which goes first: the second reads the folder from a warmer page cache.
      if (i % 2 === 0) {
        await plainRun();
        await berthRun();
      } else {
        await berthRun();
        await plainRun();
      }
      if (i < RUNS - 1) {
        // Keep the last pair for the incremental and restore parts; drop the others' data.
        rmSync(join(gw.dir, "data", "bench", lastPlainRepo), { recursive: true, force: true });
        rmSync(join(gw.dir, "data", "bench", lastBerthEnv), { recursive: true, force: true });
      }
    }
    const firstRatio = median(berthMs) / median(plainMs);
    console.log(`first backup, plain restic init + backup: ${sec(median(plainMs))} (runs: ${list(plainMs)})`);
    console.log(`first backup, berth:                      ${sec(median(berthMs))} (runs: ${list(berthMs)})`);
    console.log(`first backup ratio: ${firstRatio.toFixed(2)}x`);

    // 2. 1% of the files change.
    const changed = files.filter((_, i) => i % 100 === 0);
    for (const f of changed) {
      const size = statSync(f).size;
      writeFileSync(f, randomBytes(size));
    }
    const t0inc = Date.now();
    await plain(lastPlainRepo, "backup", "--host", "bench", ".");
    const incPlain = Date.now() - t0inc;
    const inc = await berthBackup(lastBerthEnv);
    const incRatio = inc.ms / incPlain;
    console.log(
      `incremental after ${changed.length} files (1%) changed: plain ${sec(incPlain)}, berth ${sec(inc.ms)} (${(inc.bytesAdded / 1024 ** 2).toFixed(1)} MiB added): ${incRatio.toFixed(2)}x`,
    );

    // 3. Restore: plain restic restore vs a fresh node's first apply until the app answers,
    // interleaved, each from a flushed page cache (`sync` first: the one before leaves dirty pages).
    const env = lastBerthEnv;
    const probe = `/media/blob-0.bin`;
    const m = parseManifest({
      formatVersion: 1,
      order: ["store"],
      services: {
        store: {
          image,
          environment: { ROLE: { value: "store" } },
          volumes: [{ source: "data", target: "/data", readOnly: false }],
          dependsOn: {},
          resources: {},
          updateOrder: "stop-first",
          expose: [],
          labels: {},
          networks: { default: { aliases: [] } },
          health: { path: "/starts", port: 9000, status: 200 },
        },
      },
      volumes: { data: { labels: {} } },
      networks: {},
      routes: [{ service: "store", port: 9000, host: "files.test" }],
      routeHints: [],
      extensions: {},
    });
    const backup = environmentBackupSchema.parse({
      target: { endpoint: gw.endpoint, bucket: "bench", region: "us-east-1" },
      retention: { last: 3 },
    });
    const plainRestores: number[] = [];
    const berthRestores: number[] = [];
    /** Plain restic's part of each plain run, and berth's restic + flush of each fresh node. */
    const plainResticOnly: number[] = [];
    const berthRestoreOnly: number[] = [];
    /** Per fresh node, where its time went: restic's restore, the flush, the app's start until it answered. */
    const splits: string[] = [];
    const plainSplits: string[] = [];
    let steps: string[] = [];
    let restored = 0;
    const plainProject = `berth-bench-backup-${RUN}`;
    const plainTarget = join(root, "plain-restore");
    const composeFile = join(root, "plain-compose.yaml");
    const plainDown = () =>
      run("docker", ["compose", "-p", plainProject, "-f", composeFile, "down", "-v", "-t", "1"], {
        allowFailure: true,
      });
    /** By hand: restic restore into a folder, then compose up of the same image on it, until it answers. */
    const plainRestore = async () => {
      const port = await freePort();
      writeFileSync(
        composeFile,
        JSON.stringify({
          services: {
            store: {
              image,
              environment: { ROLE: "store" },
              volumes: ["data:/data"],
              ports: [`127.0.0.1:${port}:9000`],
            },
          },
          volumes: {
            data: { driver: "local", driver_opts: { type: "none", o: "bind", device: plainTarget } },
          },
        }),
      );
      await run("sync", []);
      const t = Date.now();
      await plainCold(lastPlainRepo, "restore", "latest", "--target", plainTarget);
      const restic = Date.now() - t;
      await run("docker", ["compose", "-p", plainProject, "-f", composeFile, "up", "-d", "--wait"], {
        timeoutMs: 300_000,
      });
      let answered = false;
      while (Date.now() - t < 600_000) {
        const r = await httpGet(port, probe, "localhost").catch(() => ({ status: 0 }));
        if (r.status === 200) {
          answered = true;
          break;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      const took = Date.now() - t;
      if (!answered) throw new Error(`the plain compose app did not answer ${probe} after the restore`);
      plainRestores.push(took);
      plainResticOnly.push(restic);
      plainSplits.push(`restic ${sec(restic)} + compose up ${sec(took - restic)}`);
      await plainDown();
      rmSync(plainTarget, { recursive: true, force: true });
      rmSync(join(root, `cold-cache-${lastPlainRepo}`), { recursive: true, force: true });
    };
    const berthRestore = async (i: number) => {
      // A new node: no state folder, no volume folder, no containers, a new node key. The node
      // of berth's turn before was lost at the end of that turn, as the plain way removes its
      // folder at the end of its own: each side pays for deleting its own GiB after its timing,
      // not inside the next turn's setup.
      let from = 0;
      const seen: string[] = [];
      const at = new Map<string, number>();
      await h.start({
        healthTimeoutSeconds: 120,
        onStep: (step) => {
          at.set(step, Date.now() - from);
          seen.push(`${step} +${((Date.now() - from) / 1000).toFixed(2)}`);
        },
      });
      await h.publish(env, 1, m, { backup, secrets });
      await run("sync", []);
      const t = Date.now();
      from = t;
      // The app answering through the node's proxy is what counts, not the agent's own
      // bookkeeping after the switch: probe while the agent's pass runs.
      const pass = h.agent.pollOnce();
      let answered = false;
      while (Date.now() - t < 600_000) {
        const r = await h.get(probe, "files.test").catch(() => ({ status: 0, body: "" }));
        if (r.status === 200) {
          answered = true;
          break;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      const took = Date.now() - t;
      berthRestores.push(took);
      await pass;
      berthRestoreOnly.push(at.get("restore:flushed") ?? Number.NaN);
      if (!answered) throw new Error(`the app did not answer ${probe} after the restore`);
      const downloaded = at.get("restore:downloaded") ?? Number.NaN;
      const flushed = at.get("restore:flushed") ?? Number.NaN;
      splits.push(
        `restic ${sec(downloaded)} + flush ${sec(flushed - downloaded)} + app ${sec(took - flushed)}`,
      );
      steps = seen;
      restored = folderBytes(join(h.volumeRoot, `berth-env-${env}`, "volumes", "data", "data"));
      if (i < RUNS - 1) await h.loseNode(env);
    };
    for (let i = 0; i < RUNS; i++) {
      if (i % 2 === 0) {
        await plainRestore();
        await berthRestore(i);
      } else {
        await berthRestore(i);
        await plainRestore();
      }
    }
    const restorePlain = median(plainRestores);
    const restoreBerth = median(berthRestores);
    const restoreRatio = restoreBerth / restorePlain;
    const restoreOnlyRatio = median(berthRestoreOnly) / median(plainResticOnly);
    console.log(
      `restore by hand (restic restore latest, empty cache, as on a new node; then docker compose up -d --wait until the app answers): ${sec(restorePlain)} (runs: ${list(plainRestores)}; ${plainSplits.join("; ")})`,
    );
    console.log(
      `restore, fresh node until the app answers:     ${sec(restoreBerth)} (runs: ${list(berthRestores)}; ${(restored / 1024 ** 2).toFixed(0)} MiB restored, then applied)`,
    );
    console.log(`(each fresh node, from the start: ${splits.join("; ")})`);
    console.log(`(last fresh node's steps, seconds from the start: ${steps.join(", ")})`);
    console.log(
      `(the restore alone: berth's restic + flush ${sec(median(berthRestoreOnly))} against plain restic ${sec(median(plainResticOnly))}, ${restoreOnlyRatio.toFixed(2)}x; plain restic leaves its data in the page cache, and its compose up pays for writing it)`,
    );
    console.log(`restore ratio: ${restoreRatio.toFixed(2)}x (target 1.1x)`);
    console.log(
      `backup: ${firstRatio.toFixed(2)}x first backup, ${incRatio.toFixed(2)}x incremental, ${restoreRatio.toFixed(2)}x restore until the app answers (target 1.05x first backup, 1.1x restore)`,
    );
  } finally {
    await run(
      "docker",
      [
        "compose",
        "-p",
        `berth-bench-backup-${RUN}`,
        "-f",
        join(root, "plain-compose.yaml"),
        "down",
        "-v",
        "-t",
        "1",
      ],
      {
        allowFailure: true,
      },
    ).catch(() => {});
    await h.cleanup([lastEnvOf(h)]).catch(() => {});
    await gw.cleanup();
    rmSync(root, { recursive: true, force: true });
  }
}

function lastEnvOf(h: AgentHarness): string {
  return h.agent ? (h.agent.localEnvironments()[0] ?? "none") : "none";
}

main().catch((e) => {
  console.error(`bench:backup failed: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
