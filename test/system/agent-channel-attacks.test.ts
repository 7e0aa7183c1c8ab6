// A channel writer against the real bundled agent (dist/berth-agent.js run, a folder channel,
// real Docker and HAProxy): each attempt its own test, the app answering through the node's
// proxy throughout. The writer can put, replace and delete any object, but holds no signing key;
// the last test signs with a trusted test key (a leaked key) and still cannot escape the rules.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nodeIo } from "../../cli/io";
import { main as berth } from "../../cli/main";
import { channelKeys } from "../../contract/channel/layout";
import { readStatus, waitForOutcome } from "../../contract/channel/publish";
import { nextSequence } from "../../contract/channel/sequence";
import type { EnvironmentStatus } from "../../contract/channel/status";
import { generateSigningKeyPair, keyIdOf } from "../../contract/payload";
import { signAgentStatus } from "../../contract/trust";
import { run } from "../../lib/process";
import { AgentHarness, appManifest } from "./support/agent-harness";
import { REPO_ROOT } from "./support/pulumi-project";
import { testAppImage } from "./support/test-app-image";

const h = new AgentHarness();
// Unique to this run: Compose project names are global to the Docker Engine.
const RUN = Math.random().toString(36).slice(2, 6);
const ENV = `attacked-${RUN}`;
const OTHER = `withdrawn-${RUN}`;
const OTHER_HOST = `${OTHER}.test`;
let image = "";
let agent: ChildProcess;
let applied = 0;
let refused = 0;

function startAgent(): ChildProcess {
  const p = spawn(
    process.execPath,
    [join(REPO_ROOT, "dist", "berth-agent.js"), "run", "--config", h.configFile],
    {
      env: { ...process.env, BERTH_LOG_LEVEL: "warn" },
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  p.stderr?.resume();
  return p;
}

/** The agent process's resident memory now and at its peak (kB, from /proc). */
function memoryKb(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN);
  return { rss: field("VmRSS"), peak: field("VmHWM") };
}

async function statusOf(env: string): Promise<EnvironmentStatus | undefined> {
  return readStatus(h.channel, h.nodeId, env);
}

async function until(what: string, f: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await f()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}; last status: ${JSON.stringify(await statusOf(ENV))}`);
}

/** Runs `attack` while a client asks the app every 100 ms; returns the answers that were not `body`. */
async function answering(body: string, attack: () => Promise<void>): Promise<string[]> {
  const bad: string[] = [];
  let done = false;
  const client = (async () => {
    while (!done) {
      const r = await h.get("/").catch((e: Error) => ({ status: 0, body: e.message }));
      if (r.status !== 200 || r.body !== body) bad.push(`${r.status} ${r.body}`);
      await new Promise((res) => setTimeout(res, 100));
    }
  })();
  try {
    await attack();
  } finally {
    done = true;
    await client;
  }
  return bad;
}

async function deploy(env: string, seq: number, message: string, host?: string) {
  await h.publish(env, seq, appManifest({ message, image, ...(host ? { host } : {}) }));
  const s = await waitForOutcome(h.channel, {
    nodeId: h.nodeId,
    environmentId: env,
    sequence: seq,
    timeoutMs: 120_000,
  });
  expect(s.state, `${s.error}`).toBe("applied");
  if (env === ENV) applied = seq;
}

const releaseKey = (env: string, seq: number) => channelKeys.release(h.nodeId, env, seq);

beforeAll(async () => {
  image = await testAppImage();
  await h.start({ healthTimeoutSeconds: 30 });
  agent = startAgent();
  await deploy(ENV, 1, "v1");
  await deploy(ENV, 2, "v2");
  expect(await h.get("/")).toEqual({ status: 200, body: "v2" });
}, 600_000);

afterAll(async () => {
  if (agent && agent.exitCode === null) {
    agent.kill("SIGTERM");
    await new Promise((r) => agent.once("exit", r));
  }
  await h.cleanup([ENV, OTHER]);
}, 300_000);

/** `berth status ENV` against the node's status key, as an operator whose stack pins it. */
async function berthStatus(env: string): Promise<{ code: number; out: string }> {
  let out = "";
  const code = await berth(["status", env, "--channel", h.channelDir, `--status-key=${h.statusPublicKey}`], {
    ...nodeIo(),
    out: (t) => (out += `${t}\n`),
    err: (t) => (out += `${t}\n`),
  });
  return { code, out };
}

describe("a channel writer against the real agent", () => {
  it("a forged agent status (unsigned, or signed by the writer's key): berth status ignores it and says so", async () => {
    const key = channelKeys.agentStatus(h.nodeId);
    // The agent rewrites its status every 30 s (its heartbeat, which also puts a forgery right):
    // forge just after one, so the checks below see the forgery.
    await until("a fresh agent status", async () => {
      const s = await h.agentStatus();
      return s !== undefined && Date.now() - Date.parse(s.updatedAt) < 15_000;
    });
    const genuineText = (await h.channel.get(key)) as string;
    const genuine = await h.agentStatus(); // the agent's own, verified with the node's key
    expect(genuine?.nodeId).toBe(h.nodeId);
    const before = await berthStatus(ENV);
    expect(before.code, before.out).toBe(0);
    expect(before.out).toContain(`agent status signature: verified with ${keyIdOf(h.statusPublicKey)}`);
    // The writer claims the node trusts its key, revoked the program's and runs agent 9.9.9.
    const writer = generateSigningKeyPair();
    const claim = {
      ...(genuine as NonNullable<typeof genuine>),
      agentVersion: "9.9.9",
      trust: { generation: 99, releaseKeyIds: [writer.keyId], rootKeyIds: [], revoked: [h.signing.keyId] },
    };
    const bad = await answering("v2", async () => {
      for (const [forged, reason] of [
        [JSON.stringify(claim), /the agent's status is not signed/],
        [
          signAgentStatus(claim, writer.privateKey),
          /signed by ed25519:[0-9a-f]+, not by the node's pinned status key/,
        ],
      ] as const) {
        await h.channel.put(key, forged);
        const st = await berthStatus(ENV);
        expect(st.code, st.out).toBe(1);
        expect(st.out).toMatch(/ {2}agent: NOT VERIFIED, ignored: status\/agent\/state\.json: /);
        expect(st.out).toMatch(reason);
        expect(st.out).not.toContain("9.9.9");
        expect(st.out).not.toMatch(/trust generation 99/); // what it claims is not shown
        await expect(h.agentStatus()).rejects.toThrow(/does not verify/);
      }
    });
    expect(bad).toEqual([]);
    await h.channel.put(key, genuineText);
    expect((await berthStatus(ENV)).code).toBe(0);
  }, 120_000);

  it("desired.json deleted: nothing is torn down, the status reports the anomaly", async () => {
    const pointer = (await h.channel.get(channelKeys.desired(h.nodeId, ENV))) as string;
    const bad = await answering("v2", async () => {
      await h.channel.delete(channelKeys.desired(h.nodeId, ENV));
      await until("the anomaly in the status", async () =>
        ((await statusOf(ENV))?.anomalies ?? []).some((a) =>
          a.startsWith("desired.json is missing from the channel"),
        ),
      );
      // Several more passes (0.5 s each): still nothing torn down.
      await new Promise((r) => setTimeout(r, 3000));
    });
    expect(bad).toEqual([]);
    expect((await h.containers(ENV)).map((c) => c.state)).toEqual(["running", "running"]);
    expect((await statusOf(ENV))?.state).toBe("applied");
    // The pointer back: the anomaly clears.
    await h.channel.put(channelKeys.desired(h.nodeId, ENV), pointer);
    await until("the anomaly to clear", async () => (await statusOf(ENV))?.anomalies === undefined);
  }, 120_000);

  it("desired.json pointed at an older signed release that has not expired: refused", async () => {
    const bad = await answering("v2", async () => {
      await h.channel.put(channelKeys.desired(h.nodeId, ENV), JSON.stringify({ sequence: 1 }));
      await until("the refusal", async () => {
        const s = await statusOf(ENV);
        return s?.state === "rejected" && s.attemptedSequence === 1;
      });
    });
    expect(bad).toEqual([]);
    expect((await statusOf(ENV))?.error).toMatch(/^release 1 was rejected: STALE_SEQUENCE/);
    await h.channel.put(channelKeys.desired(h.nodeId, ENV), JSON.stringify({ sequence: applied }));
  }, 120_000);

  it("the floor outlives a teardown: after a signed withdrawal, an older release pointed at again is refused", async () => {
    await deploy(OTHER, 1, "o1", OTHER_HOST);
    await deploy(OTHER, 2, "o2", OTHER_HOST);
    const w = await h.withdraw(OTHER);
    expect(w).toBe(3);
    await until(
      "the withdrawn environment removed",
      async () => (await statusOf(OTHER))?.state === "removed",
    );
    expect(await h.containers(OTHER)).toEqual([]);
    expect(existsSync(join(h.stateRoot, "environments", OTHER))).toBe(false);
    // The writer removes the withdrawal and points at release 2 (signed, not expired) again.
    await h.channel.delete(channelKeys.withdrawal(h.nodeId, OTHER));
    await h.channel.put(channelKeys.desired(h.nodeId, OTHER), JSON.stringify({ sequence: 2 }));
    await until("the refusal", async () => (await statusOf(OTHER))?.state === "rejected");
    expect((await statusOf(OTHER))?.error).toMatch(
      /STALE_SEQUENCE: release 2 is older than the applied release 3/,
    );
    await new Promise((r) => setTimeout(r, 2000));
    expect(await h.containers(OTHER)).toEqual([]);
    expect((await h.get("/", OTHER_HOST)).status).not.toBe(200);
    await h.channel.delete(channelKeys.desired(h.nodeId, OTHER));
  }, 300_000);

  it("junk release keys with huge numbers are ignored, and the next release applies with the right sequence", async () => {
    const bad = await answering("v2", async () => {
      const huge = Number.MAX_SAFE_INTEGER;
      await h.channel.put(releaseKey(ENV, huge), "junk");
      // A signed release of this node copied under a huge number, and the pointer to it.
      await h.channel.put(releaseKey(ENV, huge - 1), (await h.channel.get(releaseKey(ENV, 2))) as string);
      await h.channel.put(channelKeys.desired(h.nodeId, ENV), JSON.stringify({ sequence: huge - 1 }));
      await until("the refusal", async () => (await statusOf(ENV))?.attemptedSequence === huge - 1);
    });
    expect(bad).toEqual([]);
    expect((await statusOf(ENV))?.error).toMatch(
      /SEQUENCE_MISMATCH: the release was read from the key of release 9007199254740990, but it is signed as release 2/,
    );
    const next = await nextSequence(h.channel, {
      nodeId: h.nodeId,
      environmentId: ENV,
      floor: 0,
      signingKey: h.signing.privateKey,
    });
    expect(next).toBe(3);
    await deploy(ENV, next, "v3");
    expect(await h.get("/")).toEqual({ status: 200, body: "v3" });
  }, 300_000);

  it("a 1 GiB object and a symlink loop: the agent keeps polling within its memory", async () => {
    const before = memoryKb(agent.pid as number);
    const bad = await answering("v3", async () => {
      const big = join(h.channelDir, ...releaseKey(ENV, 1000).split("/"));
      writeFileSync(big, "");
      truncateSync(big, 1024 ** 3); // 1 GiB (sparse: cheap to make, 1 GiB to read)
      const envDir = join(h.channelDir, "nodes", h.nodeId, "environments");
      symlinkSync(envDir, join(envDir, ENV, "loop")); // environments/<env>/loop/<env>/loop/...
      symlinkSync(join(envDir, ENV), join(envDir, "evil")); // a whole environment by a link
      mkdirSync(join(h.channelDir, "nodes", h.nodeId, "junk"), { recursive: true });
      symlinkSync(join(h.channelDir, "nodes"), join(h.channelDir, "nodes", h.nodeId, "junk", "up"));
      await h.channel.put(channelKeys.desired(h.nodeId, ENV), JSON.stringify({ sequence: 1000 }));
      await until("the anomaly in the status", async () =>
        ((await statusOf(ENV))?.anomalies ?? []).some((a) =>
          /is 1073741824 bytes, above the cap of 8388608 bytes/.test(a),
        ),
      );
      // Still polling: a good release after the junk applies.
      await deploy(ENV, 1001, "v3");
    });
    expect(bad).toEqual([]);
    const after = memoryKb(agent.pid as number);
    // Bounded: reading the object would have taken 1 GiB (and its string more).
    expect(after.peak, `agent memory: ${JSON.stringify({ before, after })}`).toBeLessThan(
      before.peak + 200 * 1024,
    );
    expect(after.peak).toBeLessThan(512 * 1024);
    expect(agent.exitCode).toBeNull();
    console.log(`agent memory (kB): before ${JSON.stringify(before)}, after ${JSON.stringify(after)}`);
  }, 300_000);

  it.each([
    [
      "privileged",
      (doc: Record<string, unknown>) => {
        const web = (doc.services as Record<string, Record<string, unknown>>).web as Record<string, unknown>;
        web.privileged = true;
      },
      /services\.web\.privileged: privileged containers are not allowed: they get root on the node/,
    ],
    [
      "a bind mount of the node's root",
      (doc: Record<string, unknown>) => {
        const web = (doc.services as Record<string, Record<string, unknown>>).web as Record<string, unknown>;
        web.volumes = [{ type: "bind", source: "/", target: "/host" }];
      },
      /services\.web\.volumes\[0\]: only the environment's own named volumes may be mounted \(no bind mounts\)/,
    ],
    [
      "the Docker socket, through a volume whose folder is /var/run",
      (doc: Record<string, unknown>) => {
        const x = doc["x-berth"] as { volumes: { device: string }[] };
        for (const v of x.volumes) v.device = "/var/run";
      },
      /x-berth\.volumes\[0\]\.device: \/var\/run is not the volume's folder under the node's volume root/,
    ],
    [
      "the Docker socket, bound directly",
      (doc: Record<string, unknown>) => {
        const web = (doc.services as Record<string, Record<string, unknown>>).web as Record<string, unknown>;
        web.volumes = [{ type: "bind", source: "/var/run/docker.sock", target: "/var/run/docker.sock" }];
      },
      /services\.web\.volumes\[0\]: only the environment's own named volumes/,
    ],
  ])(
    "a release signed with a trusted key whose Compose asks for %s is refused by the node",
    async (_what, change, reason) => {
      refused += 1;
      const seq = applied + refused; // refused releases are never stored: each attempt its own sequence
      const bad = await answering("v3", async () => {
        await h.publish(ENV, seq, appManifest({ message: "evil", image }), { compose: change });
        const s = await waitForOutcome(h.channel, {
          nodeId: h.nodeId,
          environmentId: ENV,
          sequence: seq,
          timeoutMs: 60_000,
        });
        expect(s.state).toBe("rejected");
        expect(s.error).toMatch(
          /^release \d+ was rejected: NODE_RULES: this node does not run what the release asks for: /,
        );
        expect(s.error).toMatch(reason);
      });
      expect(bad).toEqual([]);
      expect((await h.containers(ENV)).filter((c) => c.release === String(seq))).toEqual([]);
      const { stdout } = await run("docker", [
        "ps",
        "-q",
        "--filter",
        `label=berth.release=${seq}`,
        "--filter",
        `label=berth.environment=${ENV}`,
      ]);
      expect(stdout.trim()).toBe("");
    },
    120_000,
  );
});
