// The program and its node, through `pulumi up` of the local stack (the real engine, the real
// agent, backups to versitygw, a trust set under berth:trust): a lost node comes back from the
// next `pulumi up` with its data, and a channel writer can neither get a secret sealed to a key
// of theirs nor make `pulumi up` report an apply that did not happen. Each attack is its own
// test, the app answering throughout. Then the node changes while it runs, through `pulumi up`
// alone: a release-key rotation (add B and sign with it, revoke A) and an agent upgrade
// (berth:agentBundle), the app answering and the secrets opening after each; `pulumi up` returns
// once the node's signed agent status names the new agent, and fails with the node's reason when
// it rolled a broken bundle back.
import { createHash, createPublicKey } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { Agent as HttpAgent } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pinnedStatusKey } from "../../cli/commands/status-key";
import { nodeIo } from "../../cli/io";
import { main as berth } from "../../cli/main";
import { defaultStargzToolsDir, readStargzBuild } from "../../components/release-channel/stargz-tools";
import { FolderChannelStore } from "../../contract/channel/folder-store";
import { channelKeys } from "../../contract/channel/layout";
import { enrollmentSecretFor, identityDocument } from "../../contract/channel/node-identity";
import { readStatus } from "../../contract/channel/publish";
import { silentAfterSeconds } from "../../contract/channel/status-heartbeat";
import { signStatus } from "../../contract/channel/status-signature";
import {
  generateNodeKeyPair,
  generateSigningKeyPair,
  keyIdOf,
  loadSigningPrivateKey,
  publicKeyText,
  releaseEnvelopeSchema,
  serializeEnvelope,
  signRelease,
  TrustedKeys,
  unsealSecrets,
} from "../../contract/payload";
import { type AgentStatus, verifyAgentStatus } from "../../contract/trust";
import { NODE_TOOLS_MANIFEST_KEY, verifyNodeTools } from "../../contract/trust/node-tools";
import { localNodeArch } from "../../stacks/platform";
import { agentBundleOf, crashingBundle, hangingBundle } from "./support/agent-bundles";
import { httpGet } from "./support/agent-harness";
import { BackupLocalStack } from "./support/backup-local-stack";

const s = new BackupLocalStack("np");
const NODE = "local-1";
const channel = () => new FolderChannelStore(s.channelRoot);
const sha = (p: string) => createHash("sha256").update(readFileSync(p)).digest("hex");
const page = async () => (await httpGet(s.port, "/", "localhost")).body;
let token = "";
/** The key that signs the stack's trust sets (berth:trust.rootKeys, berth:trustRootKey). */
const root = generateSigningKeyPair();

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

/** The release `desired.json` points at, as the channel holds it. */
async function currentRelease() {
  const desired = JSON.parse((await channel().get(channelKeys.desired(NODE, s.env))) as string) as {
    sequence: number;
  };
  const text = (await channel().get(channelKeys.release(NODE, s.env, desired.sequence))) as string;
  return releaseEnvelopeSchema.parse(JSON.parse(text));
}

async function until<T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const v = await f();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The agent's own status, believed only when it verifies against the status key the state pins. */
async function verifiedAgentStatus(what: string, test: (s: AgentStatus) => boolean): Promise<AgentStatus> {
  const key = pinnedStatusKey(JSON.parse((await s.pulumi(["stack", "export"])).stdout), NODE);
  if (!key) throw new Error("the state pins no status key for the node");
  let last = "";
  return until(what, async () => {
    const text = await channel().get(channelKeys.agentStatus(NODE));
    if (text === undefined) return undefined;
    const r = verifyAgentStatus(text, { statusKey: key, nodeId: NODE });
    if (!r.ok) throw new Error(`the agent's status does not verify: ${r.reason}`);
    last = JSON.stringify(r.status);
    return test(r.status) ? r.status : undefined;
  }).catch((e: Error) => {
    throw new Error(`${e.message}; last agent status: ${last}`);
  });
}

/** The agent's own status as the channel holds it now, verified against the key the state pins. */
async function agentStatusNow(): Promise<AgentStatus> {
  const key = pinnedStatusKey(JSON.parse((await s.pulumi(["stack", "export"])).stdout), NODE);
  if (!key) throw new Error("the state pins no status key for the node");
  const text = await channel().get(channelKeys.agentStatus(NODE));
  if (text === undefined) throw new Error("the node has no agent status");
  const r = verifyAgentStatus(text, { statusKey: key, nodeId: NODE });
  if (!r.ok) throw new Error(`the agent's status does not verify: ${r.reason}`);
  return r.status;
}

/** 4 keep-alive clients on the app until stopped; every answer must be 200 and match `body`. */
function clients(body: RegExp) {
  const agent = new HttpAgent({ keepAlive: true, maxSockets: 4 });
  const failures: string[] = [];
  let ok = 0;
  let stop = false;
  const one = async () => {
    const deadline = Date.now() + 600_000;
    while (!stop && Date.now() < deadline) {
      try {
        const r = await httpGet(s.port, "/", "localhost", agent);
        if (r.status === 200 && body.test(r.body)) ok++;
        else failures.push(`HTTP ${r.status}: ${r.body.slice(0, 60)}`);
      } catch (e) {
        failures.push((e as Error).message);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const all = Array.from({ length: 4 }, () => one());
  return {
    async done() {
      stop = true;
      await Promise.all(all);
      agent.destroy();
      return { ok, failures };
    },
  };
}

/** How long `pulumi up` waits for the node to apply a release (berth:releaseTimeoutSeconds). */
const RELEASE_SECONDS = 45;
/**
 * The release bound of the two `pulumi up`s that wait out a bound (withShortReleaseBound): the
 * forged-status test's, whose forger writes ten statuses a second, and the hanging bundle's, whose
 * rollout must wait for the node's trial, longer than this. The node's health bound is apart from
 * it (berth:healthTimeoutSeconds), and it is no input of the Release or the rollout, so nothing
 * else changes.
 */
const SHORT_RELEASE_SECONDS = 10;
/** The node's trial limit for a new agent bundle (berth:agentTrialSeconds; the agent's default is
 * 120 s; a new agent reports before its first pass): longer than SHORT_RELEASE_SECONDS, so the
 * hanging bundle's `pulumi up` shows that the rollout waits for the node's verdict, not for the
 * release bound. */
const TRIAL_SECONDS = 35;

/** `pulumi up` with berth:releaseTimeoutSeconds at SHORT_RELEASE_SECONDS, then back. */
async function upWithShortReleaseBound(): Promise<Awaited<ReturnType<typeof s.pulumi>>> {
  await s.pulumi(["config", "set", "berth:releaseTimeoutSeconds", String(SHORT_RELEASE_SECONDS)]);
  try {
    return await s.pulumi(["up", "--yes"], { allowFailure: true });
  } finally {
    await s.pulumi(["config", "set", "berth:releaseTimeoutSeconds", String(RELEASE_SECONDS)]);
  }
}

beforeAll(async () => {
  await s.init({
    releaseTimeoutSeconds: RELEASE_SECONDS,
    config: {
      "berth:trust.rootKeys[0]": root.publicKey,
      "berth:agentTrialSeconds": String(TRIAL_SECONDS),
      "berth:healthTimeoutSeconds": String(RELEASE_SECONDS),
    },
    secrets: { "berth:trustRootKey": root.privateKey },
  });
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
      up = await upWithShortReleaseBound();
      await answering();
    } finally {
      stop = true;
      await forging;
      process.kill(pid, "SIGCONT");
    }
    expect(up.exitCode).not.toBe(0);
    expect(up.stdout + up.stderr).toMatch(
      new RegExp(`did not report on release \\d+ of environment .* within ${SHORT_RELEASE_SECONDS} s`),
    );
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
    // The node's heartbeat (every 5 s on the local node) lapses: silent 3 intervals + 5 s after
    // the last one its status carries (the agent is killed: there is no later one). Waited from
    // that beat, not from now: up to one interval less than a fixed wait, and never too short.
    const last = (await readStatus(channel(), NODE, s.env))?.heartbeat;
    expect(last, "the node's status carries a heartbeat").toBeDefined();
    const silentAt = Date.parse(last?.at ?? "") + silentAfterSeconds(last?.intervalSeconds ?? 5) * 1000;
    await new Promise((r) => setTimeout(r, Math.max(0, silentAt - Date.now()) + 1_000));
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

  it("key rotation through pulumi up: add B and release with it, revoke A; an A-signed release is refused, the node is not remade", async () => {
    const a = loadSigningPrivateKey((await s.pulumi(["config", "get", "berth:signingKey"])).stdout.trim());
    const aPublic = publicKeyText(createPublicKey(a));
    const b = generateSigningKeyPair();
    const pid = s.agentPid();
    const identity = await channel().get(channelKeys.identity(NODE));
    // Add B to the trust set and sign with it: one `pulumi up` (the trust set goes first).
    await s.pulumi([
      "config",
      "set-all",
      "--path",
      "--plaintext",
      `berth:trust.releaseKeys[0]=${aPublic}`,
      "--plaintext",
      `berth:trust.releaseKeys[1]=${b.publicKey}`,
      "--plaintext",
      "berth:environments[0].variables.GREETING=Hello from B",
      "--secret",
      `berth:signingKey=${b.privateKey}`,
    ]);
    await s.pulumi(["up", "--yes"]);
    await answering(/^Hello from B\n/);
    expect((await currentRelease()).keyId).toBe(b.keyId);
    // Revoke A, and release with B again: the trust set goes first, so the node takes B's
    // release already under the set that revokes A.
    await s.pulumi(["config", "rm", "--path", "berth:trust.releaseKeys[1]"]);
    await s.pulumi([
      "config",
      "set-all",
      "--path",
      "--plaintext",
      `berth:trust.releaseKeys[0]=${b.publicKey}`,
      "--plaintext",
      `berth:trust.revoked[0]=${keyIdOf(aPublic)}`,
      "--plaintext",
      "berth:environments[0].variables.GREETING=Hello after A",
    ]);
    await s.pulumi(["up", "--yes"]);
    await answering(/^Hello after A\n/);
    const withB = await currentRelease();
    expect(withB.keyId).toBe(b.keyId);
    const held = await verifiedAgentStatus("the node holds the trust set that revokes A", (st) =>
      st.trust.revoked.includes(keyIdOf(aPublic)),
    );
    expect(held.trust.releaseKeyIds).toEqual([b.keyId]);
    // Whoever still holds A signs the current release anew, above the node's floor.
    const forgedSeq = withB.payload.sequence + 5;
    await channel().put(
      channelKeys.release(NODE, s.env, forgedSeq),
      serializeEnvelope(signRelease({ ...withB.payload, sequence: forgedSeq }, a)),
    );
    await channel().put(channelKeys.desired(NODE, s.env), JSON.stringify({ sequence: forgedSeq }));
    const refused = await until("the A-signed release refused", async () => {
      const st = await readStatus(channel(), NODE, s.env);
      return st?.attemptedSequence === forgedSeq && st.state === "rejected" ? st : undefined;
    });
    expect(refused.error).toMatch(/UNKNOWN_KEY/);
    await answering(/^Hello after A\n/);
    // The node was never remade: the same process, the same keys; B's release opened its secrets.
    expect(s.agentPid()).toBe(pid);
    expect(await channel().get(channelKeys.identity(NODE))).toBe(identity);
    const nodeKey = readFileSync(join(s.nodeRoot, "keys", "node.key"), "utf8").trim();
    expect(secretsOpenedWith(nodeKey)).toContain(`${withB.payload.sequence}.json:api-token`);
    await channel().put(
      channelKeys.desired(NODE, s.env),
      JSON.stringify({ sequence: withB.payload.sequence }),
    );
  }, 900_000);

  // Before the agent upgrades: the last of them leaves berth:agentBundle on a bundle the node
  // rolled back, which every later `pulumi up` of this stack fails on.
  it("the stargz tools through pulumi up: this machine's build in the channel, byte for byte, its manifest signed by the release key; no change on the next preview; gone when unset", async () => {
    const dir = defaultStargzToolsDir();
    const build = readStargzBuild(dir, [localNodeArch()]);
    await s.pulumi(["config", "set", "berth:stargzTools", dir]);
    const up = await s.pulumi(["up", "--yes"]);
    expect(up.stdout).toMatch(/channel-stargz-tools\s+created/);
    const key = loadSigningPrivateKey((await s.pulumi(["config", "get", "berth:signingKey"])).stdout.trim());
    const manifest = verifyNodeTools(
      (await channel().get(NODE_TOOLS_MANIFEST_KEY)) ?? "",
      new TrustedKeys([publicKeyText(createPublicKey(key))]),
    );
    expect(manifest.build).toBe(build.build);
    expect(manifest.files.map((f) => [f.name, f.arch, f.sha256])).toEqual(
      build.files.map((f) => [f.name, f.arch, f.sha256]),
    );
    for (const f of manifest.files)
      expect(
        createHash("sha256")
          .update(readFileSync(join(s.channelRoot, f.key)))
          .digest("hex"),
      ).toBe(f.sha256);
    const again = await s.pulumi(["preview", "--expect-no-changes"], { allowFailure: true });
    expect(again.exitCode, again.stdout + again.stderr).toBe(0);
    await s.pulumi(["config", "rm", "berth:stargzTools"]);
    const down = await s.pulumi(["up", "--yes"]);
    expect(down.stdout).toMatch(/channel-stargz-tools\s+deleted/);
    expect(await channel().get(NODE_TOOLS_MANIFEST_KEY)).toBeUndefined();
    expect(await channel().list("agent/stargz/")).toEqual([]);
  }, 900_000);

  it("an agent upgrade through pulumi up: the newer signed bundle takes over and applies the release, 0 failed requests from 4 keep-alive clients", async () => {
    const bundle = join(s.tmp, "berth-agent-0.2.0.js");
    writeFileSync(bundle, await agentBundleOf("0.2.0"));
    const before = s.agentPid();
    const load = clients(/^Hello (after A|upgraded)\n/);
    // One `pulumi up`: the bundle goes first (a child of the channel), the running agent hands
    // over to it before its next pass, and the new agent applies the release (its secrets open).
    await s.pulumi([
      "config",
      "set-all",
      "--path",
      "--plaintext",
      `berth:agentBundle=${bundle}`,
      "--plaintext",
      "berth:environments[0].variables.GREETING=Hello upgraded",
    ]);
    const up = await s.pulumi(["up", "--yes"]);
    // `pulumi up` returned once the node's signed agent status named 0.2.0: read once, not waited for.
    const st = await agentStatusNow();
    expect(st).toMatchObject({ agentVersion: "0.2.0", upgrade: { state: "installed" } });
    expect(up.stdout).toMatch(/node-agent\s+created/);
    await answering(/^Hello upgraded\n/);
    const { ok, failures } = await load.done();
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(0);
    expect(st.upgrade).toMatchObject({ from: "0.1.0", version: "0.2.0" });
    expect((await readStatus(channel(), NODE, s.env))?.heartbeat?.agentVersion).toBe("0.2.0");
    expect(s.agentPid()).not.toBe(before);
    // The node replaced its own copy of the bundle, not the checkout's dist/.
    expect(readFileSync(join(s.nodeRoot, "agent", "berth-agent.js"), "utf8")).toBe(
      readFileSync(bundle, "utf8"),
    );
    const status = await berthWithStack(["status", s.env]);
    expect(status.code, status.out).toBe(0);
    expect(status.out).toMatch(/agent 0\.2\.0 \(updated /);
    expect(status.out).toMatch(/last agent upgrade: installed 0\.1\.0 → 0\.2\.0/);
    expect(status.out).toMatch(
      new RegExp(`agent status signature: verified with .*pinned in stack ${s.stack}'s state`),
    );
    // Nothing else to do: the upgraded agent is the node's, not a node to start again.
    const after = await s.pulumi(["preview", "--expect-no-changes"], { allowFailure: true });
    expect(after.exitCode, after.stdout + after.stderr).toBe(0);
  }, 900_000);

  it("a broken bundle through pulumi up: the up fails with the node's reason, 0.2.0 keeps running and serving; a good bundle's up then succeeds", async () => {
    const broken = join(s.tmp, "berth-agent-0.3.0-broken.js");
    writeFileSync(broken, crashingBundle("0.3.0"));
    const load = clients(/^Hello upgraded\n/);
    await s.pulumi(["config", "set", "berth:agentBundle", broken]);
    const up = await s.pulumi(["up", "--yes"], { allowFailure: true });
    expect(up.exitCode).not.toBe(0);
    // What, which node, and what to do, in the node's words (signed, verified with the pinned key).
    expect(up.stdout + up.stderr).toMatch(
      /node local-1 rolled back the upgrade to agent 0\.3\.0 and runs agent 0\.2\.0 again: .*it said: berth-agent: cannot start: this bundle is broken on purpose.*build one with a higher version/,
    );
    const back = await agentStatusNow();
    expect(back).toMatchObject({
      agentVersion: "0.2.0",
      upgrade: { state: "rolled-back", version: "0.3.0" },
    });
    await answering(/^Hello upgraded\n/);
    // The same 0.3.0, built right this time (another SHA-256): the next `pulumi up` waits for it.
    const good = join(s.tmp, "berth-agent-0.3.0.js");
    writeFileSync(good, await agentBundleOf("0.3.0"));
    await s.pulumi(["config", "set", "berth:agentBundle", good]);
    await s.pulumi(["up", "--yes"]);
    expect(await agentStatusNow()).toMatchObject({
      agentVersion: "0.3.0",
      upgrade: { state: "installed", from: "0.2.0", version: "0.3.0" },
    });
    const { ok, failures } = await load.done();
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(0);
    // The refresh reads the node's signed agent status (AgentRollout's read): 0.3.0, no drift.
    const after = await s.pulumi(["preview", "--refresh", "--expect-no-changes"], { allowFailure: true });
    expect(after.exitCode, after.stdout + after.stderr).toBe(0);
  }, 900_000);

  it("a bundle that hangs (runs, never reports, never exits) through pulumi up: the up fails at the node's trial limit with the node's reason, 0.3.0 keeps running and serving", async () => {
    const hung = join(s.tmp, "berth-agent-0.4.0-hung.js");
    writeFileSync(hung, hangingBundle("0.4.0"));
    const load = clients(/^Hello upgraded\n/);
    await s.pulumi(["config", "set", "berth:agentBundle", hung]);
    const up = await upWithShortReleaseBound();
    const upEnded = Date.now();
    expect(up.exitCode).not.toBe(0);
    // The node's verdict, not the wait's: `pulumi up` waits longer than the node's trial (the
    // release bound of this up is SHORT_RELEASE_SECONDS, below the trial), and the watchdog signs
    // its reason at once.
    expect(up.stdout + up.stderr).toMatch(
      new RegExp(
        `node local-1 rolled back the upgrade to agent 0\\.4\\.0 and runs agent 0\\.3\\.0 again: agent 0\\.4\\.0 did not report within ${TRIAL_SECONDS} s; it said: berth-agent: stuck on purpose.*build one with a higher version`,
      ),
    );
    expect(up.stdout + up.stderr).not.toMatch(/did not run agent 0\.4\.0 within/);
    expect(await agentStatusNow()).toMatchObject({
      agentVersion: "0.3.0",
      upgrade: { state: "rolled-back", version: "0.4.0", from: "0.3.0" },
    });
    // The previous agent runs again: it signs a status of its own after the watchdog's (heartbeat 5 s).
    await verifiedAgentStatus(
      "agent 0.3.0 back and reporting",
      (st) => st.agentVersion === "0.3.0" && Date.parse(st.updatedAt) > upEnded,
    );
    await answering(/^Hello upgraded\n/);
    const { ok, failures } = await load.done();
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(0);
  }, 900_000);
});
