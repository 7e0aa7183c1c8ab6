// bench:recover — a lost node brought back by `pulumi up` of the local stack, against doing the
// same by hand, in one run. The local stack deploys the sample app with backups to versitygw;
// 1 GiB (4 MiB files of random bytes) goes into the store's volume and is backed up; the node is
// lost (agent, proxy, containers, state folder with its keys, volume folders). Timed:
//   berth: from `pulumi up` until the app answers (its data checked afterwards, file by file),
//          twice: `pulumi up --yes` (the program runs for its preview, then again for the
//          update: what docs/operations.md tells an operator to run after losing a node), the
//          figure; then, the node lost again, `pulumi up --yes --skip-preview` (what `npm run up`
//          runs), printed above it;
//   plain: `restic restore` of the same snapshot into an empty folder, then
//          `docker compose up --wait` of the same images with that folder as the store's volume,
//          until the app answers on its port; once before berth's runs and once after, berth's
//          figure against their mean (the machine's load drifts during a run).
// berth's time is split by what can be seen from outside: engine (until the program restarts the
// node: its old identity is withdrawn), identity (until the new node's identity is in the
// channel), publish (until the restore starts: the release sealed to the new key, the node's
// verification), restore (until the restored folder is in place), apply (until the app answers).
// BENCH_RECOVER_PULUMI_LOG=DIR runs both `pulumi up`s with `--logtostderr -v=7` and keeps their
// logs in DIR (recover-preview.log, recover-skip-preview.log): where the engine's time goes.
import { createHash } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { FolderChannelStore } from "../contract/channel/folder-store";
import { channelKeys } from "../contract/channel/layout";
import { readStatus } from "../contract/channel/publish";
import { run } from "../lib/process";
import { freePort, httpGet } from "../test/system/support/agent-harness";
import { BackupLocalStack, BUCKET } from "../test/system/support/backup-local-stack";

const TOTAL = Number(process.env.BENCH_RECOVER_BYTES ?? 1024 ** 3);
const FILE = 4 * 1024 * 1024;
const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

function fillVolume(dir: string): void {
  mkdirSync(join(dir, "blobs"), { recursive: true });
  const { randomFillSync } = require("node:crypto") as typeof import("node:crypto");
  const buf = Buffer.alloc(FILE);
  for (let i = 0; i * FILE < TOTAL; i++)
    writeFileSync(join(dir, "blobs", `blob-${i}.bin`), randomFillSync(buf));
}

/** SHA-256 over the names and contents of every file under `dir`, in name order. */
function digest(dir: string): string {
  const h = createHash("sha256");
  const files = readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort();
  for (const f of files) h.update(f.slice(dir.length)).update(readFileSync(f));
  return h.digest("hex");
}

async function answers(port: number): Promise<boolean> {
  try {
    return (await httpGet(port, "/", "localhost")).status === 200;
  } catch {
    return false;
  }
}

/** From `pulumi up ARGS` after the node loss until the app answers with its data, split by what is seen outside. */
async function recoverWith(
  s: BackupLocalStack,
  channel: FolderChannelStore,
  before: string,
  args: string[],
): Promise<{ total: number; split: string }> {
  const t0 = Date.now();
  const marks: Record<string, number> = {};
  const volumes = join(s.localRoot, "volumes", `berth-env-${s.env}`, "volumes", "data");
  let watching = true;
  const watch = (async () => {
    while (watching) {
      const id = await channel.get(channelKeys.identity("local-1"));
      if (marks.engine === undefined && id === undefined) marks.engine = Date.now();
      if (marks.engine !== undefined && marks.identity === undefined && id !== undefined)
        marks.identity = Date.now();
      if (
        marks.restoreStart === undefined &&
        existsSync(volumes) &&
        readdirSync(volumes).some((n) => n.startsWith("data.restore-"))
      )
        marks.restoreStart = Date.now();
      if (marks.restoreEnd === undefined && existsSync(join(s.dataDir, "blobs")))
        marks.restoreEnd = Date.now();
      if (marks.answer === undefined && (await answers(s.port))) marks.answer = Date.now();
      await new Promise((r) => setTimeout(r, 25));
    }
  })();
  const logDir = process.env.BENCH_RECOVER_PULUMI_LOG;
  const up = await s.pulumi(["up", "--yes", ...args, ...(logDir ? ["--logtostderr", "-v=7"] : [])], {
    allowFailure: true,
  });
  const upDone = Date.now();
  if (logDir) {
    mkdirSync(logDir, { recursive: true });
    const name = args.includes("--skip-preview") ? "recover-skip-preview.log" : "recover-preview.log";
    writeFileSync(join(logDir, name), up.stderr);
  }
  while (marks.answer === undefined && Date.now() - upDone < 60_000)
    await new Promise((r) => setTimeout(r, 25));
  watching = false;
  await watch;
  if (up.exitCode !== 0) throw new Error(`pulumi up after the loss failed:\n${up.stdout}\n${up.stderr}`);
  if (marks.answer === undefined) throw new Error("the app did not answer after pulumi up");
  if (digest(join(s.dataDir, "blobs")) !== before)
    throw new Error("the restored volume differs from the backed-up data");
  // Each mark falls back to the one before it when it was not seen (e.g. a restore faster than a poll).
  const engineAt = marks.engine ?? t0;
  const identityAt = marks.identity ?? engineAt;
  const restoreStartAt = marks.restoreStart ?? identityAt;
  const restoreEndAt = marks.restoreEnd ?? restoreStartAt;
  const answerAt = marks.answer as number;
  return {
    total: answerAt - t0,
    split:
      `engine ${sec(engineAt - t0)} · identity ${sec(identityAt - engineAt)} · publish ${sec(restoreStartAt - identityAt)} · ` +
      `restore ${sec(restoreEndAt - restoreStartAt)} · apply ${sec(answerAt - restoreEndAt)} (pulumi up ended after ${sec(upDone - t0)})`,
  };
}

/** The plain way, by hand: `restic restore` of the snapshot, then `docker compose up --wait`. */
interface Plain {
  /** Restores into a fresh folder and starts the same images on it, until the app answers. */
  run(): Promise<{ total: number; restore: number; up: number }>;
  /** Its containers, network and volume, and the restored folder. */
  clean(): Promise<void>;
}

function plainRecovery(
  s: BackupLocalStack,
  o: { snapshot: string; images: Record<string, string>; before: string; project: string; root: string },
): Plain {
  const restore = join(o.root, "data");
  const composeFile = join(o.root, "compose.yaml");
  const img = (svc: string) => o.images[svc] as string;
  const health = (url: string) => ({
    test: ["CMD", "python3", "/app/app.py", "check", url],
    interval: "2s",
    start_interval: "500ms",
    start_period: "20s",
    timeout: "3s",
    retries: 3,
  });
  const resticEnv = {
    RESTIC_REPOSITORY: `s3:${s.gw.endpoint}/${BUCKET}/${s.env}`,
    RESTIC_PASSWORD: s.password,
    AWS_ACCESS_KEY_ID: s.gw.accessKey,
    AWS_SECRET_ACCESS_KEY: s.gw.secretKey,
    AWS_DEFAULT_REGION: "us-east-1",
    RESTIC_CACHE_DIR: join(o.root, "restic-cache"),
  };
  const clean = async () => {
    await run("docker", ["compose", "-p", o.project, "down", "-v"], { allowFailure: true });
    rmSync(o.root, { recursive: true, force: true });
  };
  return {
    clean,
    async run() {
      await clean();
      const port = await freePort();
      mkdirSync(o.root, { recursive: true });
      writeFileSync(
        composeFile,
        JSON.stringify({
          services: {
            store: {
              image: img("store"),
              command: ["store"],
              volumes: ["data:/data"],
              healthcheck: health("http://127.0.0.1:7000/health"),
            },
            worker: {
              image: img("worker"),
              command: ["worker"],
              environment: { STORE_URL: "http://store:7000", INTERVAL_SECONDS: "3" },
              depends_on: { store: { condition: "service_healthy" } },
            },
            web: {
              image: img("web"),
              command: ["web"],
              environment: {
                GREETING: "Hello from berth",
                STORE_URL: "http://store:7000",
                API_TOKEN: "plain",
              },
              ports: [`127.0.0.1:${port}:8080`],
              depends_on: { store: { condition: "service_healthy" } },
              healthcheck: health("http://127.0.0.1:8080/health"),
            },
          },
          volumes: { data: { driver: "local", driver_opts: { type: "none", o: "bind", device: restore } } },
        }),
      );
      await run("sync", []);
      const p0 = Date.now();
      const r = await run("restic", ["restore", o.snapshot, "--target", restore, "--no-lock"], {
        env: resticEnv,
        redact: [s.password, s.gw.secretKey],
        timeoutMs: 900_000,
        allowFailure: true,
      });
      if (r.exitCode !== 0) throw new Error(`restic restore failed: ${r.stderr}`);
      const p1 = Date.now();
      await run("docker", ["compose", "-p", o.project, "-f", composeFile, "up", "-d", "--wait"], {
        timeoutMs: 300_000,
      });
      while (!(await answers(port))) await new Promise((r2) => setTimeout(r2, 25));
      const p2 = Date.now();
      if (digest(join(restore, "blobs")) !== o.before)
        throw new Error("restic's restore differs from the backed-up data");
      await clean();
      return { total: p2 - p0, restore: p1 - p0, up: p2 - p1 };
    },
  };
}

async function main() {
  const s = new BackupLocalStack("rc");
  const channel = new FolderChannelStore(s.channelRoot);
  let plain: Plain | undefined;
  const load = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  try {
    await s.init({ releaseTimeoutSeconds: 900 });
    console.log("bench:recover: first pulumi up (builds the sample app's images)");
    await s.pulumi(["up", "--yes"]);
    fillVolume(s.dataDir);
    // The bench's files only: the store service writes its own beside them.
    const before = digest(join(s.dataDir, "blobs"));
    const b = await s.backupNow();
    if (b.exitCode !== 0) throw new Error(`backup failed: ${b.stdout}${b.stderr}`);
    const snapshot = (await readStatus(channel, "local-1", s.env))?.backup?.volumes[0]?.lastSuccess
      ?.snapshotId;
    if (!snapshot) throw new Error("no snapshot id in the node's status");
    const seq = (await readStatus(channel, "local-1", s.env))?.appliedSequence;
    const rendered = parse(
      readFileSync(join(s.nodeRoot, "environments", s.env, "releases", String(seq), "compose.yaml"), "utf8"),
    ) as { services: Record<string, { image: string }> };
    plain = plainRecovery(s, {
      snapshot,
      images: Object.fromEntries(Object.entries(rendered.services).map(([k, v]) => [k, v.image])),
      before,
      project: `berth-bench-recover-${s.run}`,
      root: join(s.tmp, "plain"),
    });
    console.log(
      `bench:recover: 1 GiB backed up (snapshot ${snapshot}); the plain way first (load ${load()})`,
    );
    // The plain way runs before and after berth's figure run, and berth is held against their
    // mean: the machine's load drifts, and one plain run taken at a calmer or busier moment
    // than berth's would tilt the ratio either way.
    const plainBefore = await plain.run();
    console.log(`bench:recover: losing the node (load ${load()})`);
    await s.loseNode();
    await run("sync", []);

    // berth: pulumi up after the loss, until the app answers; with its preview (what an operator
    // runs: the figure), then (the node lost again) with --skip-preview, what `npm run up` runs.
    const withPreview = await recoverWith(s, channel, before, []);
    console.log(`bench:recover: losing the node again (load ${load()})`);
    await s.loseNode();
    await run("sync", []);
    const skipPreview = await recoverWith(s, channel, before, ["--skip-preview"]);
    console.log(`bench:recover: the plain way again (load ${load()})`);
    const plainAfter = await plain.run();
    const plainMean = (plainBefore.total + plainAfter.total) / 2;
    const plainLine = (p: { total: number; restore: number; up: number }) =>
      `${sec(p.total)} (restore ${sec(p.restore)} · compose up ${sec(p.up)})`;

    console.log(
      `berth, pulumi up --yes (its preview first): ${sec(withPreview.total)}\n  ${withPreview.split}\n` +
        `berth, pulumi up --yes --skip-preview (npm run up): ${sec(skipPreview.total)}\n  ${skipPreview.split}\n` +
        `plain  (restic restore + docker compose up --wait → answering), before berth: ${plainLine(plainBefore)}\n` +
        `plain, after berth: ${plainLine(plainAfter)}; mean ${sec(plainMean)}\n` +
        `load average at the end: ${load()}\n` +
        `recover with --skip-preview: ${(skipPreview.total / plainMean).toFixed(2)}x`,
    );
    console.log(`recover: ${(withPreview.total / plainMean).toFixed(2)}x (target 1.3x)`);
  } finally {
    // BENCH_RECOVER_AGENT_LOG=FILE keeps the agent's log (with BERTH_LOG_LEVEL=debug: each apply step).
    const keep = process.env.BENCH_RECOVER_AGENT_LOG;
    if (keep && existsSync(join(s.nodeRoot, "agent.log"))) copyFileSync(join(s.nodeRoot, "agent.log"), keep);
    await plain?.clean();
    await s.cleanup();
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
