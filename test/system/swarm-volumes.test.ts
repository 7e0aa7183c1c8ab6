// A volume on a node group lives on its holder's cloud disk (issue 23), with real Docker Engines in
// swarm mode (the test bed: test/system/support/swarm-engines.ts), real agents (in process, one
// per engine, one folder channel) and loop devices standing in for attached cloud volumes (a
// release names the loop device). The release goes to the leader only; the volume `data` is
// held by the worker, whose disk the program attached. Shown here:
// - on the first deploy the leader hands the worker the release's signed volume order and waits;
//   the worker mounts the disk at the volume's folder (formatted once, as on a single node),
//   binds the Docker volume to it, and says so in its signed status; only then does the leader
//   run `docker stack deploy`, and the pinned store writes onto the disk, not the engine's disk;
// - attack: a channel writer's "volumes ready" (a status of the worker signed with its own key)
//   does not make the leader deploy: the leader's status names the worker it waits for, and at
//   the bound the release fails with it, nothing deployed (no service, no volume);
// - attack: the worker's genuine word on an older release, replayed, does not either.
// The bed's engines see the mounts the agents make on this machine (`sharedFolder`: a shared
// mount bound into every engine's container), as on a real node where agent and engine share the
// host.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { channelKeys } from "../../contract/channel/layout";
import { readStatus } from "../../contract/channel/publish";
import { signStatus } from "../../contract/channel/status-signature";
import { generateSigningKeyPair, type SigningKeyPair } from "../../contract/payload";
import { membershipKey, signMembership } from "../../contract/swarm/membership";
import { NODE_LABEL, secretVersion } from "../../contract/swarm/names";
import { renderSwarmStack } from "../../contract/swarm/render";
import { run } from "../../lib/process";
import { loadOrCreateStatusKey } from "../../node-agent/node-keys";
import { AgentHarness } from "./support/agent-harness";
import { swarmApp } from "./support/swarm-app";
import { type BedNode, type SwarmBed, startSwarmBed } from "./support/swarm-engines";
import { whilePolling } from "./support/swarm-polling";
import { testAppImage } from "./support/test-app-image";

const SECRET = "swarm-volumes-api-token-31";
const VERSION_KEY = Buffer.alloc(32, 6);
let image: string;
let bed: SwarmBed;
let channelDir: string;
let program: SigningKeyPair;
let leader: BedNode;
let worker: BedNode;
const agents = new Map<string, AgentHarness>();
const disksDir = mkdtempSync(join(tmpdir(), "berth-swarm-disks-"));
const loops: string[] = [];
/** The leader waits this long for the holders (the attacks run into it). */
const HELD_VOLUMES_TIMEOUT_S = 20;

const agent = (n: BedNode) => agents.get(n.name) as AgentHarness;

/** A loop device over a sparse file: an attached cloud volume (a release names it under /dev). */
async function attach(name: string): Promise<string> {
  const file = join(disksDir, `${name}.img`);
  execFileSync("truncate", ["-s", "64M", file]);
  const device = (await run("losetup", ["--find", "--show", file])).stdout.trim();
  loops.push(device);
  return device;
}

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

/** Poll passes of both agents until `done`, bounded. */
async function passesUntil(done: () => Promise<boolean>, what: string, boundMs = 120_000): Promise<void> {
  const deadline = Date.now() + boundMs;
  for (;;) {
    for (const n of [leader, worker]) await agent(n).agent.pollOnce();
    if (await done()) return;
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${boundMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

function release(env: string, sequence: number, disk: string) {
  const m = swarmApp(image);
  const text = renderSwarmStack(m, {
    environmentId: env,
    sequence,
    images: { web: image, store: image },
    volumeNodes: { data: worker.name },
    disks: { data: disk },
    secretVersions: { "api-token": secretVersion(VERSION_KEY, env, "api-token", SECRET) },
    encryptNetworks: false,
    monitorMs: 3000,
  }).text;
  return { m, text };
}

const secrets = { "api-token": SECRET };

/** Publishes a release to the leader and runs its pass (which waits for the holders, bounded). */
async function applyOnLeader(env: string, sequence: number, disk: string) {
  const r = release(env, sequence, disk);
  await agent(leader).publish(env, sequence, r.m, { text: r.text, secrets });
  await agent(leader).agent.pollOnce();
  return readStatus(agent(leader).channel, leader.name, env);
}

/** The leader's status saying what it waits for, read while its pass runs. */
async function waitingWhile(env: string, pass: Promise<unknown>): Promise<string> {
  let waiting = "";
  let done = false;
  void pass.finally(() => {
    done = true;
  });
  while (!done && !waiting) {
    waiting = (await readStatus(agent(leader).channel, leader.name, env))?.waiting ?? "";
    await new Promise((r) => setTimeout(r, 200));
  }
  return waiting;
}

/** What the worker's engine has of an environment: its Docker volume, and the stack's services on the leader. */
async function deployedOf(env: string) {
  const volume = await bed.docker(worker, ["volume", "ls", "--quiet", "--filter", `name=berth_${env}_`]);
  const services = await bed.docker(leader, ["service", "ls", "--quiet", "--filter", `name=berth-${env}_`]);
  return { volumes: volume.stdout.trim(), services: services.stdout.trim() };
}

beforeAll(async () => {
  image = await testAppImage();
  bed = await startSwarmBed(2, { sharedFolder: true });
  [leader, worker] = bed.nodes as [BedNode, BedNode];
  channelDir = mkdtempSync(join(tmpdir(), "berth-swarm-volumes-"));
  program = generateSigningKeyPair();
  for (const n of bed.nodes) {
    const h = new AgentHarness({
      nodeId: n.name,
      channelDir,
      signing: program,
      volumeRoot: join(bed.shared as string, n.name, "volumes"),
    });
    await h.start({ dockerHost: n.host, heldVolumesTimeoutSeconds: HELD_VOLUMES_TIMEOUT_S });
    agents.set(n.name, h);
  }
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
}, 240_000);
afterAll(async () => {
  for (const h of agents.values()) await h.cleanup([]);
  await bed?.stop();
  for (const l of loops) await run("losetup", ["-d", l], { allowFailure: true });
  rmSync(disksDir, { recursive: true, force: true });
  rmSync(channelDir, { recursive: true, force: true });
}, 180_000);

describe("a volume on a node group lives on its holder's cloud disk", () => {
  it("the first deploy waits for the worker to mount the disk and bind the volume; the store writes onto the disk", async () => {
    const disk = await attach("shop");
    const status = await whilePolling([agent(worker)], () => applyOnLeader("shop", 1, disk));
    expect(status?.error).toBeUndefined();
    expect(status).toMatchObject({ state: "applied", appliedSequence: 1 });
    expect(status?.services).toContainEqual({ name: "store", state: `1/1 running on ${worker.name}` });
    // The worker's signed word, for this release.
    const word = await readStatus(agent(worker).channel, worker.name, "shop");
    expect(word?.heldVolumes).toEqual({ sequence: 1, ready: ["data"] });
    // The disk is mounted at the volume's folder on the worker's host, and the engine's volume is bound to its data/.
    const folder = join(agent(worker).volumeRoot, "berth-env-shop", "volumes", "data");
    const mountinfo = readFileSync("/proc/self/mountinfo", "utf8");
    expect(mountinfo.split("\n").some((l) => l.split(" ")[4] === folder)).toBe(true);
    const options = await bed.docker(worker, [
      "volume",
      "inspect",
      "--format",
      "{{json .Options}}",
      "berth_shop_data",
    ]);
    expect(JSON.parse(options.stdout)).toMatchObject({
      type: "none",
      o: "bind",
      device: join(folder, "data"),
    });
    // The store's task wrote its start onto the disk (seen through the disk's own mount).
    const starts = async () => {
      try {
        return readFileSync(join(folder, "data", "starts"), "utf8");
      } catch {
        return "";
      }
    };
    await passesUntil(async () => (await starts()).length > 0, "the store's start on the disk", 60_000);
    const fsType = (await run("findmnt", ["--noheadings", "--output", "FSTYPE", folder])).stdout.trim();
    expect(fsType).toBe("ext4");
  }, 300_000);

  it("attack: a channel writer's 'volumes ready' does not make the leader deploy; the status names the worker it waits for, and the release fails at the bound", async () => {
    const disk = await attach("blog");
    const writer = generateSigningKeyPair();
    await agent(leader).channel.put(
      channelKeys.status(worker.name, "blog"),
      signStatus(
        {
          formatVersion: 1,
          nodeId: worker.name,
          environmentId: "blog",
          appliedSequence: 1,
          state: "applied",
          services: [],
          heldVolumes: { sequence: 1, ready: ["data"] },
          updatedAt: new Date().toISOString(),
        },
        writer.privateKey,
      ),
    );
    // The worker's agent does not poll: only the forged word is there.
    const pass = applyOnLeader("blog", 1, disk);
    const waiting = await waitingWhile("blog", pass);
    expect(waiting).toContain(
      `release 1 waits for the holders of its volumes before it deploys: ${worker.name}`,
    );
    expect(waiting).toContain("a status that does not verify was ignored");
    const status = await pass;
    expect(status).toMatchObject({ state: "failed", attemptedSequence: 1 });
    expect(status?.error).toContain(
      `the holders of its volumes were not ready within ${HELD_VOLUMES_TIMEOUT_S} s, so nothing was deployed: ${worker.name} has not said its volumes are ready`,
    );
    expect(await deployedOf("blog")).toEqual({ volumes: "", services: "" });
  }, 180_000);

  it("attack: the worker's genuine word on an older release, replayed, does not make the leader deploy", async () => {
    const disk = await attach("docs");
    // Release 1: the worker makes the volume ready and says so (its genuine, signed word).
    const first = await whilePolling([agent(worker)], () => applyOnLeader("docs", 1, disk));
    expect(first).toMatchObject({ state: "applied", appliedSequence: 1 });
    const genuine = (await agent(worker).channel.get(channelKeys.status(worker.name, "docs"))) as string;
    // Release 2 moves the volume to another disk (a placement the leader has not seen ready) and
    // changes the app's message: deployed, web would say v2.
    const moved = await attach("docs-2");
    const two = swarmApp(image, undefined, "v2");
    const text = renderSwarmStack(two, {
      environmentId: "docs",
      sequence: 2,
      images: { web: image, store: image },
      volumeNodes: { data: worker.name },
      disks: { data: moved },
      secretVersions: { "api-token": secretVersion(VERSION_KEY, "docs", "api-token", SECRET) },
      encryptNetworks: false,
      monitorMs: 3000,
    }).text;
    await agent(leader).publish("docs", 2, two, { text, secrets });
    // The worker does not poll; the channel writer puts the worker's word on release 1 back.
    await agent(leader).channel.put(channelKeys.status(worker.name, "docs"), genuine);
    const pass = agent(leader).agent.pollOnce();
    const waiting = await waitingWhile("docs", pass);
    expect(waiting).toContain(
      `${worker.name} has not yet read release 2's volume order (its word is for release 1)`,
    );
    await pass;
    const status = await readStatus(agent(leader).channel, leader.name, "docs");
    expect(status).toMatchObject({ state: "failed", attemptedSequence: 2, appliedSequence: 1 });
    expect(status?.error).toContain("so nothing was deployed");
    // Nothing of release 2 deployed: web still says v1.
    const env = await bed.docker(leader, [
      "service",
      "inspect",
      "--format",
      "{{json .Spec.TaskTemplate.ContainerSpec.Env}}",
      "berth-docs_web",
    ]);
    expect(env.stdout).toContain("MESSAGE=v1");
    expect(env.stdout).not.toContain("MESSAGE=v2");
  }, 240_000);
});
