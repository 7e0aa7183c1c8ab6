// Backups on a node group (issue 23: "backups address the node holding each volume"), with real
// Docker Engines in swarm mode (the test bed: test/system/support/swarm-engines.ts), real agents
// (node-agent/agent.ts, in process, one per engine, one folder channel), real restic and
// versitygw. The release, with its backups, goes to the leader only; the volume `data` is held
// by the worker. Shown here:
// - the leader hands the worker its backup order, the repository password and bucket keys sealed
//   to the worker's node key; the worker's agent backs up its own engine's volume on the
//   schedule (`* * * * *`), reports it in its signed status (`berth status` shows it with the
//   node), and the snapshot restores byte for byte;
// - no backup secret in plain text in the channel, in either node's state, or in the logs;
// - a channel writer's order (its own key, another repository) is refused by the holder, whose
//   backups keep going to the leader's repository;
// - the holder replaced (its engine emptied, a new agent with new keys, the program's next
//   membership): before it joins the swarm it restores the volume from the newest snapshot, and
//   the store, pinned to it, starts on the restored data.
// The bed's engines keep their data in folders of this machine (`hostDataRoots`), so a volume's
// Mountpoint is a path the agent reads, as on a real node where agent and engine share the host.
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nodeIo } from "../../cli/io";
import { main as berthMain } from "../../cli/main";
import type { EnvironmentBackup } from "../../contract/backup/schema";
import { readStatus } from "../../contract/channel/publish";
import { generateSigningKeyPair, type SigningKeyPair } from "../../contract/payload";
import {
  backupOrderKey,
  sealOrderSecrets,
  signBackupOrder,
  swarmBackupSchema,
} from "../../contract/swarm/backups";
import { membershipKey, signMembership } from "../../contract/swarm/membership";
import { NODE_LABEL, secretVersion } from "../../contract/swarm/names";
import { renderSwarmStack } from "../../contract/swarm/render";
import { restoreRequestKey, signRestoreRequest } from "../../contract/swarm/restore-hold";
import { createLogger } from "../../lib/log";
import { run } from "../../lib/process";
import { loadOrCreateStatusKey } from "../../node-agent/node-keys";
import { AgentHarness } from "./support/agent-harness";
import { agentCli, backupSecrets, environmentBackup } from "./support/environment-backup";
import { swarmApp } from "./support/swarm-app";
import { type BedNode, type SwarmBed, startSwarmBed } from "./support/swarm-engines";
import { whilePolling } from "./support/swarm-polling";
import { testAppImage } from "./support/test-app-image";
import { Versitygw } from "./support/versitygw";

const SECRET = "swarm-backup-api-token-77";
const VERSION_KEY = Buffer.alloc(32, 5);
const VOLUME = "berth_shop_data";
const gw = new Versitygw();
const password = `restic-pw-${Math.random().toString(36).slice(2)}-${Math.random().toString(36).slice(2)}`;
let image: string;
let bed: SwarmBed;
let channelDir: string;
let program: SigningKeyPair;
let leader: BedNode;
let worker: BedNode;
let backup: EnvironmentBackup;
let secrets: Record<string, string>;
const agents = new Map<string, AgentHarness>();
const retired: AgentHarness[] = [];
const logs = new PassThrough();
let logText = "";
logs.on("data", (d) => (logText += String(d)));
const log = createLogger("berth-agent-test", logs);
log.level = "info";
/** The blob the test puts in the worker's volume, and the volume's files at the first backup. */
const blob = Buffer.from(Array.from({ length: 256 * 1024 }, (_, i) => (i * 7919) % 251));
let backedUp: Record<string, string> = {};
let startsAtBackup = "";
/** The holder's stop request of its restore, as a channel writer saw it. */
let replayedStop = "";

async function startAgent(n: BedNode): Promise<AgentHarness> {
  const h = new AgentHarness({ nodeId: n.name, channelDir, signing: program });
  await h.start({ dockerHost: n.host, log });
  agents.set(n.name, h);
  return h;
}

const agent = (n: BedNode) => agents.get(n.name) as AgentHarness;

function membership(generation: number): string {
  return signMembership(
    {
      group: "web",
      generation,
      issuedAt: new Date().toISOString(),
      expiresAt: new Date(Date.now() + 3600_000).toISOString(),
      leader: leader.name,
      leaderAddress: leader.ip,
      members: [leader, worker].map((n) => ({
        nodeId: n.name,
        role: n === leader ? ("manager" as const) : ("worker" as const),
        publicKey: agent(n).nodePublicKey,
        statusKey: loadOrCreateStatusKey(agent(n).stateRoot).publicKey,
        address: n.ip,
      })),
    },
    program.privateKey,
  );
}

/** Poll passes of both agents (each one real pass of its loop, then its backup pass) until `done`, bounded. */
async function passesUntil(done: () => Promise<boolean>, what: string, boundMs = 120_000): Promise<void> {
  const deadline = Date.now() + boundMs;
  for (;;) {
    for (const n of [leader, worker]) {
      await agent(n).agent.pollOnce();
      await agent(n).agent.heldBackups.tick();
    }
    if (await done()) return;
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${boundMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** Where the worker's engine keeps the volume (a folder of this machine: hostDataRoots). */
async function mountpoint(n: BedNode): Promise<string> {
  return (await bed.docker(n, ["volume", "inspect", "--format", "{{.Mountpoint}}", VOLUME])).stdout.trim();
}

/** Every file of a folder (relative path → sha256). */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of readdirSync(dir, { recursive: true, withFileTypes: true }))
    if (f.isFile()) {
      const p = join(f.parentPath, f.name);
      out[p.slice(dir.length + 1)] = createHash("sha256").update(readFileSync(p)).digest("hex");
    }
  return out;
}

function release(sequence: number) {
  const m = swarmApp(image);
  const text = renderSwarmStack(m, {
    environmentId: "shop",
    sequence,
    images: { web: image, store: image },
    volumeNodes: { data: worker.name },
    secretVersions: { "api-token": secretVersion(VERSION_KEY, "shop", "api-token", SECRET) },
    encryptNetworks: false,
    monitorMs: 3000,
    backup,
  }).text;
  return { m, text };
}

async function workerStatus() {
  return readStatus(agent(leader).channel, worker.name, "shop");
}

beforeAll(async () => {
  image = await testAppImage();
  await gw.start();
  backup = environmentBackup(gw, "swarm-backups", { schedule: "* * * * *", retention: { last: 10 } });
  secrets = { "api-token": SECRET, ...backupSecrets(gw, password) };
  bed = await startSwarmBed(2, { hostDataRoots: true });
  [leader, worker] = bed.nodes as [BedNode, BedNode];
  channelDir = mkdtempSync(join(tmpdir(), "berth-swarm-backup-"));
  program = generateSigningKeyPair();
  for (const n of bed.nodes) await startAgent(n);
}, 180_000);
afterAll(async () => {
  for (const h of [...agents.values(), ...retired]) await h.cleanup([]);
  await bed?.stop();
  await gw.cleanup();
  rmSync(channelDir, { recursive: true, force: true });
}, 180_000);

describe("backups on a node group: the volume's holder backs it up", () => {
  it("the worker holding the volume backs it up on the schedule, reports it signed, and the snapshot restores byte for byte", async () => {
    await agent(leader).channel.put(membershipKey("web"), membership(1));
    const labelled = async () => {
      const r = await bed.docker(
        leader,
        ["node", "inspect", worker.name, "--format", "{{json .Spec.Labels}}"],
        {
          allowFailure: true,
        },
      );
      return r.exitCode === 0 && JSON.parse(r.stdout || "{}")[NODE_LABEL] === worker.name;
    };
    await passesUntil(labelled, "the worker in the swarm, labelled");
    const r = release(1);
    // The worker holds the volume: it makes it ready and says so while the leader waits.
    const applied = await whilePolling([agent(worker)], () =>
      agent(leader).deploy("shop", 1, r.m, { text: r.text, secrets }),
    );
    expect((await workerStatus())?.heldVolumes).toEqual({ sequence: 1, ready: ["data"] });
    expect(applied.error).toBeUndefined();
    expect(applied).toMatchObject({ state: "applied", appliedSequence: 1 });
    expect(applied.services).toContainEqual({ name: "store", state: `1/1 running on ${worker.name}` });
    // The app's data, on the worker's engine: the store's own file, and a blob beside it.
    const folder = await mountpoint(worker);
    writeFileSync(join(folder, "blob.bin"), blob);
    // The order reaches the worker; its next scheduled run (each minute) backs the volume up.
    const backedUpOk = async () => {
      const s = await workerStatus();
      return s?.backup?.volumes[0]?.lastSuccess !== undefined;
    };
    await passesUntil(backedUpOk, "the worker's status saying data was backed up", 180_000);
    backedUp = tree(folder);
    startsAtBackup = readFileSync(join(folder, "starts"), "utf8");
    const s = await workerStatus();
    expect(s).toMatchObject({ nodeId: worker.name, state: "applied", appliedSequence: 1 });
    expect(s?.backup).toMatchObject({ state: "ok", repository: `s3:${gw.endpoint}/swarm-backups/shop` });
    const snapshot = s?.backup?.volumes[0]?.lastSuccess?.snapshotId ?? "";
    expect(snapshot).toMatch(/^[0-9a-f]{8}$/);
    // The leader holds no volume: no backups of its own.
    expect(agent(leader).agent.heldBackups.environments()).toEqual([]);

    // berth status: the leader's release, and the holder's backups with its node.
    let out = "";
    const io = { ...nodeIo(), out: (t: string) => (out += `${t}\n`) };
    const code = await berthMain(["status", "shop", "--channel", channelDir], io);
    expect(out).toContain(`shop on ${leader.name}`);
    expect(out).toContain(`backups on ${worker.name} (holds data; release 1): ok`);
    expect(out).toContain(`data: ok at`);
    expect(code, out).toBe(0);

    // The snapshot, restored with restic from the bucket, is the volume byte for byte.
    const target = mkdtempSync(join(tmpdir(), "berth-swarm-restore-"));
    try {
      const env = {
        RESTIC_REPOSITORY: `s3:${gw.endpoint}/swarm-backups/shop`,
        RESTIC_PASSWORD: password,
        AWS_ACCESS_KEY_ID: gw.accessKey,
        AWS_SECRET_ACCESS_KEY: gw.secretKey,
      };
      await run(
        "restic",
        [
          "--option",
          "s3.region=us-east-1",
          "--option",
          "s3.bucket-lookup=path",
          "restore",
          snapshot,
          "--target",
          target,
        ],
        {
          env,
          redact: [password, gw.secretKey],
          timeoutMs: 120_000,
        },
      );
      expect(tree(target)).toEqual(backedUp);
      expect(readFileSync(join(target, "blob.bin")).equals(blob)).toBe(true);
      expect(Object.keys(backedUp)).toContain("starts");
    } finally {
      rmSync(target, { recursive: true, force: true });
    }
  }, 420_000);

  it("no backup secret in plain text in the channel, in either node's state, or in the logs", async () => {
    const leaked = [password, gw.secretKey];
    for (const root of [channelDir, ...[leader, worker].map((n) => agent(n).stateRoot)])
      for (const f of readdirSync(root, { recursive: true, withFileTypes: true })) {
        if (!f.isFile()) continue;
        const path = join(f.parentPath, f.name);
        const text = readFileSync(path, "latin1");
        for (const v of leaked) expect(text.includes(v), path).toBe(false);
      }
    const order = (await agent(leader).channel.get(backupOrderKey("web", "shop"))) ?? "";
    expect(Object.keys(JSON.parse(order).order.secrets)).toEqual([worker.name]);
    expect(logText).toContain("volume backed up");
    for (const v of leaked) expect(logText.includes(v)).toBe(false);
  });

  it("attack: a channel writer's order (its own key, its own repository) is refused by the holder; its backups keep going to the leader's repository", async () => {
    const writer = generateSigningKeyPair();
    const real = (await agent(leader).channel.get(backupOrderKey("web", "shop"))) ?? "";
    const b = swarmBackupSchema.parse({
      ...JSON.parse(real).order.backup,
      repository: `s3:${gw.endpoint}/attacker/shop`,
    });
    await agent(leader).channel.put(
      backupOrderKey("web", "shop"),
      signBackupOrder(
        {
          group: "web",
          environmentId: "shop",
          sequence: 2,
          withdrawn: false,
          backup: b,
          maintainer: worker.name,
          secrets: sealOrderSecrets(
            b,
            secrets,
            [{ nodeId: worker.name, publicKey: agent(worker).nodePublicKey }],
            {
              environmentId: "shop",
              sequence: 2,
            },
          ),
        },
        writer.privateKey,
      ),
    );
    await agent(worker).agent.pollOnce();
    const refused = agent(worker)
      .agent.swarm.backupSteps()
      .find((s) => s.environmentId === "shop");
    expect(refused?.outcome).toBe("refused");
    expect(refused?.detail).toMatch(/not by the leader's key/);
    // `berth-agent backup shop` on the holder: the volumes it holds.
    const runs = await agent(worker).agent.backupNow("shop");
    expect(runs[0]?.run.ok, runs[0]?.run.error).toBe(true);
    expect((await workerStatus())?.backup?.repository).toBe(`s3:${gw.endpoint}/swarm-backups/shop`);
    // The leader writes its own order again (the channel no longer holds it as written).
    await passesUntil(
      async () =>
        (await agent(leader).channel.get(backupOrderKey("web", "shop")))?.includes("attacker") === false,
      "the leader's order back",
    );
  }, 180_000);

  it("berth-agent snapshots, prune and check on the holder reach the group's repository with the order's secrets", async () => {
    const snaps = await agentCli(agent(worker), "snapshots", "shop");
    expect(snaps.code, snaps.err).toBe(0);
    expect(snaps.out).toMatch(/^[0-9a-f]{8}\t\S+\tdata$/m);
    const pruned = await agentCli(agent(worker), "prune", "shop");
    expect(pruned.code, pruned.err).toBe(0);
    expect(pruned.out).toContain("shop: prune ok");
    const checked = await agentCli(agent(worker), "check", "shop");
    expect(checked.code, checked.err).toBe(0);
    expect(checked.out).toContain("shop: check ok");
    // The leader holds no volume and runs the release: its own settings carry no backups on a swarm.
    const onLeader = await agentCli(agent(leader), "snapshots", "shop");
    expect(onLeader.code).not.toBe(0);
  }, 180_000);

  it("berth-agent restore on the holder: the leader stops the store through Swarm, the data it replaces is kept as a snapshot, the volume is restored, and the store starts again", async () => {
    const folder = await mountpoint(worker);
    const newest = (await agent(worker).agent.snapshots("shop")).at(-1);
    // Data written after the newest backup, which the restore replaces (hence --force).
    writeFileSync(join(folder, "junk.txt"), "written after the backup\n");
    writeFileSync(join(folder, "blob.bin"), Buffer.alloc(1024));
    const startsBefore = readFileSync(join(folder, "starts"), "utf8");
    // A channel writer watching keeps the holder's stop request (replayed in a test below).
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const t = await agent(leader).channel.get(restoreRequestKey(worker.name, "shop"));
        if (t?.includes('"state":"stop"')) replayedStop = t;
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const report = await whilePolling([agent(leader)], () =>
      agent(worker).agent.restore("shop", { force: true }),
    ).finally(async () => {
      watching = false;
      await watcher;
    });
    expect(report.volumes).toEqual([
      expect.objectContaining({ volume: "data", action: "restored", snapshotId: newest?.shortId }),
    ]);
    // The leader scaled the store to 0 for the swap, through its manager, and back after it.
    expect(logText).toMatch(/store scaled to 0 for \S+'s restore/);
    expect(logText).toContain("store back to their replicas (the restore is done)");
    expect(readFileSync(join(folder, "blob.bin")).equals(blob)).toBe(true);
    expect(readdirSync(folder)).not.toContain("junk.txt");
    // What it replaced stays recoverable: the snapshot taken before the swap holds it.
    const saved = /the data it replaced is snapshot ([0-9a-f]{8})/.exec(report.volumes[0]?.detail ?? "")?.[1];
    expect(saved, report.volumes[0]?.detail).toBeDefined();
    const target = mkdtempSync(join(tmpdir(), "berth-swarm-replaced-"));
    try {
      await run(
        "restic",
        [
          "--option",
          "s3.region=us-east-1",
          "--option",
          "s3.bucket-lookup=path",
          "restore",
          saved as string,
          "--target",
          target,
        ],
        {
          env: {
            RESTIC_REPOSITORY: `s3:${gw.endpoint}/swarm-backups/shop`,
            RESTIC_PASSWORD: password,
            AWS_ACCESS_KEY_ID: gw.accessKey,
            AWS_SECRET_ACCESS_KEY: gw.secretKey,
          },
          redact: [password, gw.secretKey],
          timeoutMs: 120_000,
        },
      );
      expect(readFileSync(join(target, "junk.txt"), "utf8")).toBe("written after the backup\n");
    } finally {
      rmSync(target, { recursive: true, force: true });
    }
    // The store runs again on the worker, on the restored data (its start appended to it).
    const replicas = await bed.docker(leader, [
      "service",
      "inspect",
      "--format",
      "{{.Spec.Mode.Replicated.Replicas}}",
      "berth-shop_store",
    ]);
    expect(replicas.stdout.trim()).toBe("1");
    await passesUntil(async () => {
      try {
        const now = readFileSync(join(folder, "starts"), "utf8");
        return now !== startsBefore && now.length > 0;
      } catch {
        return false;
      }
    }, "the store started again after the restore");
  }, 300_000);

  it("attack: a channel writer's restore request does not make the leader stop the store", async () => {
    const writer = generateSigningKeyPair();
    await agent(leader).channel.put(
      restoreRequestKey(worker.name, "shop"),
      signRestoreRequest(
        { group: "web", environmentId: "shop", nodeId: worker.name, id: "a".repeat(32), state: "stop" },
        writer.privateKey,
      ),
    );
    await agent(leader).agent.pollOnce();
    const steps = agent(leader).agent.swarm.holdSteps();
    expect(steps[0]).toMatchObject({ outcome: "refused", node: worker.name });
    const replicas = await bed.docker(leader, [
      "service",
      "inspect",
      "--format",
      "{{.Spec.Mode.Replicated.Replicas}}",
      "berth-shop_store",
    ]);
    expect(replicas.stdout.trim()).toBe("1");
  }, 120_000);

  it("attack: the holder's finished restore request, replayed, does not make the leader stop the store", async () => {
    const stop = replayedStop;
    expect(stop).not.toBe("");
    await agent(leader).channel.put(restoreRequestKey(worker.name, "shop"), stop);
    await agent(leader).agent.pollOnce();
    expect(agent(leader).agent.swarm.holdSteps()[0]).toMatchObject({
      outcome: "refused",
      detail: expect.stringContaining("was acted on already (a replay)"),
    });
    const replicas = await bed.docker(leader, [
      "service",
      "inspect",
      "--format",
      "{{.Spec.Mode.Replicated.Replicas}}",
      "berth-shop_store",
    ]);
    expect(replicas.stdout.trim()).toBe("1");
  }, 120_000);

  it("a replaced holder restores the volume from the newest snapshot before it joins; the store starts on the restored data", async () => {
    // The machine is lost: its agent gone, its engine out of the swarm and its volume gone.
    const old = agent(worker);
    retired.push(old);
    await old.cleanup([]);
    agents.delete(worker.name);
    await bed.docker(worker, ["swarm", "leave", "--force"]);
    const ids = (await bed.docker(worker, ["ps", "--all", "--quiet"])).stdout.split("\n").filter(Boolean);
    if (ids.length > 0) await bed.docker(worker, ["rm", "--force", ...ids], { timeoutMs: 60_000 });
    await bed.docker(worker, ["volume", "rm", "--force", VOLUME], { timeoutMs: 60_000 });
    expect((await bed.docker(worker, ["volume", "ls", "--quiet"])).stdout.trim()).toBe("");
    // The newest snapshot: the last backup (the attack test backed the volume up again).
    await startAgent(worker);
    await agent(leader).channel.put(membershipKey("web"), membership(2));
    // The store's task on the new engine (the leader's view of the old node may lag: asked of
    // the worker's own engine), and its start appended to the restored file.
    const startsNow = async () => {
      const r = await bed.docker(
        worker,
        [
          "ps",
          "--quiet",
          "--filter",
          "label=com.docker.swarm.service.name=berth-shop_store",
          "--filter",
          "status=running",
        ],
        { allowFailure: true },
      );
      if (r.stdout.trim() === "") return "";
      try {
        return readFileSync(join(await mountpoint(worker), "starts"), "utf8");
      } catch {
        return "";
      }
    };
    await passesUntil(
      async () => (await startsNow()).length > startsAtBackup.length,
      "the store started on the replaced worker",
      180_000,
    );
    const folder = await mountpoint(worker);
    expect(readFileSync(join(folder, "blob.bin")).equals(blob)).toBe(true);
    // The snapshot's starts come first: the store started on the restored data.
    const starts = await startsNow();
    expect(starts.startsWith(startsAtBackup), `${starts} after ${startsAtBackup}`).toBe(true);
    const s = await workerStatus();
    expect(s?.backup?.restore).toMatchObject({ reason: "first-apply" });
    expect(s?.backup?.restore?.volumes).toEqual([
      expect.objectContaining({ volume: "data", action: "restored" }),
    ]);
  }, 420_000);
});
