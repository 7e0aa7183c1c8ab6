// The program and its node, through `pulumi up` of the local stack (the real engine, the real
// agent, backups to versitygw): a lost node comes back from the next `pulumi up` with its data,
// and a channel writer can neither get a secret sealed to a key of theirs nor make `pulumi up`
// report an apply that did not happen. Each attack is its own test, the app answering throughout.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nodeIo } from "../../cli/io";
import { main as berth } from "../../cli/main";
import { FolderChannelStore } from "../../contract/channel/folder-store";
import { channelKeys } from "../../contract/channel/layout";
import { enrollmentSecretFor, identityDocument } from "../../contract/channel/node-identity";
import { readStatus } from "../../contract/channel/publish";
import { signStatus } from "../../contract/channel/status-signature";
import {
  generateNodeKeyPair,
  generateSigningKeyPair,
  releaseEnvelopeSchema,
  unsealSecrets,
} from "../../contract/payload";
import { httpGet } from "./support/agent-harness";
import { BackupLocalStack } from "./support/backup-local-stack";

const s = new BackupLocalStack("np");
const NODE = "local-1";
const channel = () => new FolderChannelStore(s.channelRoot);
const sha = (p: string) => createHash("sha256").update(readFileSync(p)).digest("hex");
const page = async () => (await httpGet(s.port, "/", "localhost")).body;
let token = "";

/** Asserts the app answers now (between and after the attacks). */
async function answering(greeting = /^Hello from berth\n/): Promise<void> {
  expect(await page()).toMatch(greeting);
}

async function berthStatus(): Promise<{ code: number; out: string }> {
  let out = "";
  const code = await berth(["status", s.env, "--channel", s.channelRoot], {
    ...nodeIo(),
    out: (t) => (out += t),
    err: (t) => (out += t),
  });
  return { code, out };
}

/** `berth ARGS` reading the test stack (its backend), as an operator with the stack selected would. */
async function berthWithStack(args: string[]): Promise<{ code: number; out: string }> {
  const saved = { url: process.env.PULUMI_BACKEND_URL, pass: process.env.PULUMI_CONFIG_PASSPHRASE };
  process.env.PULUMI_BACKEND_URL = `file://${s.backend}`;
  process.env.PULUMI_CONFIG_PASSPHRASE = "berth-local";
  let out = "";
  try {
    const code = await berth([...args, "--stack", s.stack], {
      ...nodeIo(),
      out: (t) => (out += t),
      err: (t) => (out += t),
    });
    return { code, out };
  } finally {
    process.env.PULUMI_BACKEND_URL = saved.url;
    process.env.PULUMI_CONFIG_PASSPHRASE = saved.pass;
  }
}

/** Every sealed secret of every release in the channel that opens with `privateKey`. */
function secretsOpenedWith(privateKey: string): string[] {
  const dir = join(s.channelRoot, "nodes", NODE, "environments", s.env, "releases");
  const opened: string[] = [];
  for (const f of readdirSync(dir)) {
    const env = releaseEnvelopeSchema.parse(JSON.parse(readFileSync(join(dir, f), "utf8")));
    for (const sec of env.payload.secrets) {
      try {
        unsealSecrets({ ...env.payload, secrets: [sec] }, privateKey);
        opened.push(`${f}:${sec.name}`);
      } catch {
        // sealed to another key
      }
    }
  }
  return opened;
}

beforeAll(async () => {
  // Short enough for the forged-status test to wait out, long enough for a first apply.
  await s.init({ releaseTimeoutSeconds: 45 });
  token = (await s.pulumi(["config", "get", "--path", "berth:secrets.api-token"])).stdout.trim();
}, 180_000);

afterAll(async () => {
  await s.cleanup();
}, 300_000);

describe("the program pins its node, and a lost node comes back through pulumi up", () => {
  it("deploys with backups declared; the node's keys are in the state; the data is backed up", async () => {
    await s.pulumi(["up", "--yes"]);
    await answering();
    const state = JSON.parse((await s.pulumi(["stack", "export"])).stdout) as {
      deployment: { resources: { type: string; outputs?: Record<string, unknown> }[] };
    };
    const node = state.deployment.resources.find((r) => r.outputs?.berthKind === "local-node");
    const identity = JSON.parse(readFileSync(join(s.channelRoot, "nodes", NODE, "identity.json"), "utf8"));
    expect(node?.outputs).toMatchObject({ publicKey: identity.publicKey, statusKey: identity.statusKey });
    const stateText = JSON.stringify(state);
    expect(stateText).not.toContain(token);
    expect(stateText).not.toContain(readFileSync(join(s.nodeRoot, "enrollment.secret"), "utf8").trim());
    // 4 MiB of data the app would not make up, then a snapshot.
    writeFileSync(
      join(s.dataDir, "payload.bin"),
      Buffer.from(generateSigningKeyPair().privateKey.repeat(100_000)),
    );
    const b = await s.backupNow();
    expect(b.exitCode, b.stdout + b.stderr).toBe(0);
    const st = await berthStatus();
    expect(st.code, st.out).toBe(0);
  }, 900_000);

  it("a channel writer swaps identity.json: the preview refuses, and no secret is sealed to the new key", async () => {
    const key = channelKeys.identity(NODE);
    const original = (await channel().get(key)) as string;
    const attacker = generateNodeKeyPair();
    const attackerStatus = generateSigningKeyPair();
    const forged = identityDocument(
      {
        nodeId: NODE,
        publicKey: attacker.publicKey,
        statusKey: attackerStatus.publicKey,
        agentVersion: "9.9.9",
        publishedAt: new Date().toISOString(),
      },
      enrollmentSecretFor(generateSigningKeyPair().privateKey, NODE), // not the node's secret
    );
    await channel().put(key, forged);
    try {
      const preview = await s.pulumi(["preview"], { allowFailure: true });
      expect(preview.exitCode).not.toBe(0);
      expect(preview.stdout + preview.stderr).toMatch(
        /node local-1: refused: nodes\/local-1\/identity\.json does not carry a valid MAC of node local-1's enrollment secret/,
      );
      // A change that would publish a release: still refused, nothing published.
      await s.pulumi([
        "config",
        "set",
        "--path",
        "berth:environments[0].variables.GREETING",
        "Hello swapped",
      ]);
      const up = await s.pulumi(["up", "--yes"], { allowFailure: true });
      expect(up.exitCode).not.toBe(0);
      expect(secretsOpenedWith(attacker.privateKey)).toEqual([]);
      await answering();

      // The same swap MACed with the node's own enrollment secret (a node reset by hand):
      // valid, but new keys the program did not take, so refused with the command that accepts them.
      const nodeSecret = readFileSync(join(s.nodeRoot, "enrollment.secret"), "utf8").trim();
      await channel().put(
        key,
        identityDocument(
          {
            nodeId: NODE,
            publicKey: attacker.publicKey,
            statusKey: attackerStatus.publicKey,
            agentVersion: "9.9.9",
            publishedAt: new Date().toISOString(),
          },
          nodeSecret,
        ),
      );
      const again = await s.pulumi(["preview"], { allowFailure: true });
      expect(again.exitCode).not.toBe(0);
      expect(again.stdout + again.stderr).toContain(
        `pulumi config set --path 'berth:acceptNodeKeys.local-1' ${attackerStatus.keyId}`,
      );
      expect(secretsOpenedWith(attacker.privateKey)).toEqual([]);
      await answering();
    } finally {
      await channel().put(key, original);
      await s.pulumi([
        "config",
        "set",
        "--path",
        "berth:environments[0].variables.GREETING",
        "Hello from berth",
      ]);
    }
    const ok = await s.pulumi(["preview", "--expect-no-changes"], { allowFailure: true });
    expect(ok.exitCode, ok.stdout + ok.stderr).toBe(0);
  }, 900_000);

  it("a forged applied status: pulumi up does not report success", async () => {
    await s.pulumi(["config", "set", "--path", "berth:environments[0].variables.GREETING", "Hello forged"]);
    const pid = s.agentPid();
    process.kill(pid, "SIGSTOP"); // the node does nothing; the forger says it applied
    const forger = generateSigningKeyPair();
    let stop = false;
    const forge = async () => {
      while (!stop) {
        const desired = await channel().get(channelKeys.desired(NODE, s.env));
        const seq = desired ? (JSON.parse(desired) as { sequence: number }).sequence : 1;
        const claim = {
          formatVersion: 1 as const,
          nodeId: NODE,
          environmentId: s.env,
          appliedSequence: seq,
          attemptedSequence: seq,
          state: "applied" as const,
          services: [],
          heartbeat: { at: new Date().toISOString(), agentVersion: "9.9.9", intervalSeconds: 5 },
          updatedAt: new Date().toISOString(),
        };
        // Alternately unsigned and signed by a key of the forger's.
        const text = Date.now() % 2 ? JSON.stringify(claim) : signStatus(claim, forger.privateKey);
        await channel().put(channelKeys.status(NODE, s.env), text);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const forging = forge();
    let up: Awaited<ReturnType<typeof s.pulumi>>;
    try {
      up = await s.pulumi(["up", "--yes"], { allowFailure: true });
      await answering();
    } finally {
      stop = true;
      await forging;
      process.kill(pid, "SIGCONT");
    }
    expect(up.exitCode).not.toBe(0);
    expect(up.stdout + up.stderr).toMatch(/did not report on release \d+ of environment/);
    expect(up.stdout + up.stderr).toMatch(/does not verify against the node's pinned status key was ignored/);
    const st = await readStatus(channel(), NODE, s.env);
    expect(st?.heartbeat?.agentVersion).toBe("9.9.9"); // the forgery is still there, unbelieved
    // berth status and berth releases check the key the stack's state pins: the forger's status
    // is refused even with identity.json swapped to the forger's key, which is all that
    // --channel alone can go by (and says so).
    process.kill(pid, "SIGSTOP");
    const idKey = channelKeys.identity(NODE);
    const genuineId = (await channel().get(idKey)) as string;
    try {
      await channel().put(idKey, JSON.stringify({ ...JSON.parse(genuineId), statusKey: forger.publicKey }));
      await channel().put(
        channelKeys.status(NODE, s.env),
        signStatus(
          {
            ...(st as NonNullable<typeof st>),
            heartbeat: { at: new Date().toISOString(), agentVersion: "9.9.9", intervalSeconds: 5 },
          },
          forger.privateKey,
        ),
      );
      expect((await berthStatus()).out).toMatch(
        /signature: verified with .*whoever writes the channel can replace/,
      );
      const viaStack = await berthWithStack(["status", s.env]);
      expect(viaStack.code).toBe(1);
      expect(viaStack.out).toMatch(
        new RegExp(`signature: NOT VERIFIED: .*pinned in stack ${s.stack}'s state`),
      );
      const releases = await berthWithStack(["releases", s.env]);
      expect(releases.code).toBe(1);
      expect(releases.out).toMatch(/node status: NOT VERIFIED, not shown/);
      expect(releases.out).not.toMatch(/\srunning\s/);
    } finally {
      await channel().put(idKey, genuineId);
      process.kill(pid, "SIGCONT");
    }
    // The node, running again, applies the release; the next up reports it truthfully.
    await s.pulumi(["up", "--yes"]);
    await answering(/^Hello forged\n/);
  }, 900_000);

  it("a lost node: preview --refresh names the environment; pulumi up brings it back with its data", async () => {
    const before = sha(join(s.dataDir, "payload.bin"));
    const oldIdentity = JSON.parse((await channel().get(channelKeys.identity(NODE))) as string);
    await s.loseNode();
    await expect(page()).rejects.toThrow();
    // The node's heartbeat (every 5 s on the local node) lapses: silent after 3 intervals + 5 s.
    await new Promise((r) => setTimeout(r, 22_000));
    const drift = await s.pulumi(["preview", "--refresh", "--expect-no-changes", "--diff"], {
      allowFailure: true,
    });
    expect(drift.exitCode).not.toBe(0);
    // The Release shows as an update, named by its environment; --diff shows why.
    expect(drift.stdout).toMatch(
      new RegExp(`\\(update\\)\\s+\\[id=${s.env}@local-1\\]\\s+\\[urn=[^\\]]*::${s.env}-release\\]`),
    );
    expect(drift.stdout).toMatch(/silent for \d+ s/);

    await s.pulumi(["up", "--yes"]);
    await answering(/^Hello forged\n/);
    expect(sha(join(s.dataDir, "payload.bin"))).toBe(before);
    const identity = JSON.parse((await channel().get(channelKeys.identity(NODE))) as string);
    expect(identity.publicKey).not.toBe(oldIdentity.publicKey);
    const st = await berthStatus();
    expect(st.code, st.out).toBe(0);
    expect(st.out).toMatch(/: applied, running release \d+/);
    const after = await s.pulumi(["preview", "--refresh", "--expect-no-changes"], { allowFailure: true });
    expect(after.exitCode, after.stdout + after.stderr).toBe(0);
    // The old key's private half is gone with the node; the new release is sealed to the new key.
    const newKey = readFileSync(join(s.nodeRoot, "keys", "node.key"), "utf8").trim();
    expect(secretsOpenedWith(newKey).length).toBeGreaterThan(0);
  }, 900_000);
});
