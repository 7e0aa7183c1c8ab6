// The local DeploymentNode's dynamic provider logic: the same berth-agent a cloud node runs, as
// a background process of this machine with its own state folder. create writes the agent's
// config and enrollment secret and starts it, then waits until it has published an identity that
// carries the secret's MAC, and keeps its keys (outputs publicKey, statusKey: the Releases seal
// to and believe only these); diff notices an agent that is no longer running (the next
// `pulumi up` starts it again, with new keys when its state folder is gone: the program made a
// new node) and refuses an identity in the channel that the program did not take; delete stops
// the agent and its HAProxy and removes the state folder. The agent runs a copy of the bundle in
// the state folder, which it replaces itself when it upgrades from the channel.

import { spawn } from "node:child_process";
import {
  closeSync,
  copyFileSync,
  existsSync,
  type FSWatcher,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  watch,
} from "node:fs";
import { dirname, join } from "node:path";
import type * as pulumi from "@pulumi/pulumi";
import { FolderChannelStore } from "../../contract/channel/folder-store";
import { channelKeys } from "../../contract/channel/layout";
import {
  acceptanceIdOf,
  IdentityError,
  type NodeKeys,
  verifyIdentity,
} from "../../contract/channel/node-identity";
import { AGENT_ENVIRONMENT, agentRunArgs } from "../../contract/node/agent-process";
import { compareVersions } from "../../contract/trust/bundle";
import { writeFileAtomic } from "../../lib/atomic-write";
import { alive } from "../../lib/pid";
import { run } from "../../lib/process";
import { compareIdentity, refusedNewKeys } from "./identity-check";

export const LOCAL_NODE_MARKER = ".berth-local-node";

export interface LocalNodeInputs {
  berthKind: "local-node";
  berthProviderVersion: string;
  nodeId: string;
  stateRoot: string;
  channelPath: string;
  trustedKeys: string[];
  /** Only when berth:trust is set (an absent field keeps older nodes' config unchanged). */
  trustRoots?: string[];
  proxyBind: string;
  volumeRoot: string;
  /** The bundled agent (dist/berth-agent.js). */
  agentEntry: string;
  pollIntervalSeconds: number;
  healthTimeoutSeconds: number;
  /** The agent rewrites its signed statuses this often (its heartbeat). */
  heartbeatSeconds?: number;
  /** The secret the node MACs its identity with (secret; derived from the stack's enrollment key). */
  enrollmentSecret: string;
  /** The status key id of new keys an operator accepts (berth:acceptNodeKeys.<node>). */
  acceptKey?: string;
  /** The Docker Engine the agent drives (DOCKER_HOST; berth:localNodes); absent: the machine's own. */
  dockerHost?: string;
  /** How long a new agent bundle has to report (berth:agentTrialSeconds); absent: the agent's default. */
  agentTrialSeconds?: number;
}

export interface LocalNodeOutputs extends LocalNodeInputs {
  pid: number;
  /** The node's X25519 sealing key, as taken on first contact. */
  publicKey: string;
  /** The node's Ed25519 status key, as taken on first contact. */
  statusKey: string;
  logFile: string;
}

const ENROLLMENT_FILE = "enrollment.secret";

/**
 * The bundle the node runs: a copy in its own state folder, which the agent replaces in place when
 * it upgrades itself from the channel (berth:agentBundle), never the repository's dist/.
 */
export const runningBundle = (stateRoot: string) => join(stateRoot, "agent", "berth-agent.js");

/** The devcontainer CLI of this checkout (the copy of the agent has no node_modules beside it). */
function devcontainerCli(): string | undefined {
  try {
    return join(require.resolve("@devcontainers/cli/package.json"), "..", "devcontainer.js");
  } catch {
    return undefined;
  }
}

function agentConfig(i: LocalNodeInputs) {
  const cli = devcontainerCli();
  return {
    nodeId: i.nodeId,
    stateRoot: i.stateRoot,
    volumeRoot: i.volumeRoot,
    channel: { kind: "folder", path: i.channelPath },
    trustedKeys: i.trustedKeys,
    ...(i.trustRoots && i.trustRoots.length > 0 ? { trustRoots: i.trustRoots } : {}),
    enrollmentSecretFile: join(i.stateRoot, ENROLLMENT_FILE),
    pollIntervalSeconds: i.pollIntervalSeconds,
    heartbeatSeconds: i.heartbeatSeconds ?? 5,
    pollJitter: 0.1,
    healthTimeoutSeconds: i.healthTimeoutSeconds,
    drainSeconds: 1,
    proxy: { bind: i.proxyBind },
    upgrade: {
      bundlePath: runningBundle(i.stateRoot),
      restart: "exec",
      ...(i.agentTrialSeconds ? { reportWithinSeconds: i.agentTrialSeconds } : {}),
    },
    ...(cli ? { workspaces: { devcontainerCli: cli } } : {}),
  };
}

/** What `node BUNDLE version` prints, or undefined when it does not run. */
async function versionOf(bundle: string): Promise<string | undefined> {
  const r = await run(process.execPath, [bundle, "version"], { allowFailure: true, timeoutMs: 30_000 });
  return r.exitCode === 0 ? r.stdout.trim() : undefined;
}

/**
 * Puts the agent bundle (dist/berth-agent.js) where the node runs it, unless the node already
 * runs a newer one it installed from the channel (its upgrade record's highest version is above
 * the bundle's): a restart of the node never downgrades its agent.
 */
async function installBundle(i: LocalNodeInputs): Promise<string> {
  const target = runningBundle(i.stateRoot);
  mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
  if (existsSync(target) && !readFileSync(target).equals(readFileSync(i.agentEntry))) {
    let highest: string | undefined;
    try {
      highest = (
        JSON.parse(readFileSync(join(i.stateRoot, "agent", "upgrade.json"), "utf8")) as {
          highestVersion?: string;
        }
      ).highestVersion;
    } catch {
      highest = undefined;
    }
    const entry = highest ? await versionOf(i.agentEntry) : undefined;
    if (highest && entry && compareVersions(highest, entry) > 0) return target;
  }
  copyFileSync(i.agentEntry, `${target}.new`);
  renameSync(`${target}.new`, target);
  return target;
}

/**
 * Runs `test` every `everyMs` until it answers true, and at once after each change in `watchDir`
 * (a file written or renamed into place there), when one is given; fails after `timeoutMs`.
 */
export async function waitUntil(
  what: string,
  timeoutMs: number,
  test: () => Promise<boolean> | boolean,
  log: string,
  everyMs = 200,
  watchDir?: string,
) {
  const deadline = Date.now() + timeoutMs;
  let changed = false;
  let wake: (() => void) | undefined;
  let watcher: FSWatcher | undefined;
  if (watchDir) {
    try {
      mkdirSync(watchDir, { recursive: true, mode: 0o755 });
      watcher = watch(watchDir, () => {
        changed = true;
        wake?.();
      });
      watcher.on("error", () => watcher?.close());
    } catch {
      watcher = undefined; // polling alone
    }
  }
  try {
    while (Date.now() < deadline) {
      changed = false;
      if (await test()) return;
      if (changed) continue;
      await new Promise<void>((r) => {
        const t = setTimeout(done, everyMs);
        function done() {
          clearTimeout(t);
          wake = undefined;
          r();
        }
        wake = done;
      });
    }
  } finally {
    watcher?.close();
  }
  const tail = existsSync(log) ? readFileSync(log, "utf8").split("\n").slice(-10).join("\n") : "";
  throw new Error(
    `${what} within ${Math.round(timeoutMs / 1000)} s; the agent's log ${log} ends with:\n${tail}`,
  );
}

function sameKeys(a: Partial<NodeKeys> | undefined, b: NodeKeys): boolean {
  return a?.publicKey === b.publicKey && a?.statusKey === b.statusKey;
}

function keysFolderExists(stateRoot: string): boolean {
  return existsSync(join(stateRoot, "keys", "node.key"));
}

/**
 * Starts the agent and takes its keys from the identity it publishes (the MAC checked). `pinned`:
 * the keys the state holds; new ones are taken only when the node is new (no keys folder: the
 * program is making it again) or when an operator accepted them.
 */
async function start(i: LocalNodeInputs, pinned?: Partial<NodeKeys>): Promise<LocalNodeOutputs> {
  if (!existsSync(i.agentEntry)) {
    throw new Error(`the agent bundle ${i.agentEntry} is missing: run npm run build (setup does it)`);
  }
  for (const dir of [i.stateRoot, i.volumeRoot]) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileAtomic(join(dir, LOCAL_NODE_MARKER), `${i.nodeId}\n`, 0o600);
  }
  const fresh = !keysFolderExists(i.stateRoot);
  writeFileAtomic(join(i.stateRoot, ENROLLMENT_FILE), `${i.enrollmentSecret}\n`, 0o600);
  const configFile = join(i.stateRoot, "agent.json");
  writeFileAtomic(configFile, `${JSON.stringify(agentConfig(i), null, 2)}\n`, 0o600);
  const channel = new FolderChannelStore(i.channelPath);
  // The identity the agent is about to publish replaces whatever the channel holds.
  await channel.delete(channelKeys.identity(i.nodeId));
  const bundle = await installBundle(i);
  const logFile = join(i.stateRoot, "agent.log");
  const out = openSync(logFile, "a", 0o600);
  // The flags and environment every node runs its agent with (contract/node/agent-process.ts).
  const child = spawn(process.execPath, agentRunArgs(bundle, configFile), {
    detached: true,
    stdio: ["ignore", out, out],
    env: { ...process.env, ...AGENT_ENVIRONMENT, ...(i.dockerHost ? { DOCKER_HOST: i.dockerHost } : {}) },
  });
  closeSync(out);
  child.unref();
  const pid = child.pid ?? 0;
  writeFileAtomic(join(i.stateRoot, "agent.pid"), `${pid}\n`, 0o600);
  let keys: NodeKeys | undefined;
  let refused = "";
  const waiting = waitUntil(
    `the local agent (pid ${pid}) did not publish an identity the program accepts to ${i.channelPath}`,
    30_000,
    async () => {
      if (!alive(pid))
        throw new Error(
          `the local agent exited at start; its log ${logFile} ends with:\n${readFileSync(logFile, "utf8").split("\n").slice(-10).join("\n")}`,
        );
      const text = await channel.get(channelKeys.identity(i.nodeId));
      if (text === undefined) return false;
      try {
        const id = verifyIdentity(text, i.nodeId, i.enrollmentSecret);
        keys = { publicKey: id.publicKey, statusKey: id.statusKey };
        return true;
      } catch (e) {
        if (!(e instanceof IdentityError)) throw e;
        refused = e.message;
        return false;
      }
    },
    logFile,
    // A small file read: at once when the agent writes it into the node's channel folder (a node
    // made anew gets its release sooner), and every 50 ms in case a change is not seen.
    50,
    dirname(join(i.channelPath, channelKeys.identity(i.nodeId))),
  );
  await waiting.catch((e: Error) => {
    throw refused ? new Error(`${e.message}\nthe identity in the channel was refused: ${refused}`) : e;
  });
  const taken = keys as unknown as NodeKeys;
  if (pinned?.publicKey && pinned.statusKey && !sameKeys(pinned, taken) && !fresh) {
    if (i.acceptKey !== acceptanceIdOf(taken)) {
      await stop(pid, i.stateRoot);
      throw refusedNewKeys(i.nodeId, taken, pinned as NodeKeys, LOCAL_REPLACE_HINT);
    }
  }
  return { ...i, pid, publicKey: taken.publicKey, statusKey: taken.statusKey, logFile };
}

/**
 * The agent's pid now: an agent that upgraded itself started its successor and wrote its pid to
 * `<stateRoot>/agent.pid` (node-agent/upgrade/); the pid in the state is only the first one.
 */
function currentPid(o: Pick<LocalNodeOutputs, "pid" | "stateRoot">): number | undefined {
  try {
    const n = Number(readFileSync(join(o.stateRoot, "agent.pid"), "utf8").trim());
    // Only a process that runs this node's config: a pid reused by anything else is not ours.
    const cmdline = readFileSync(`/proc/${n}/cmdline`, "utf8").split("\0");
    if (Number.isInteger(n) && n > 0 && cmdline.includes(join(o.stateRoot, "agent.json"))) return n;
  } catch {
    // no file: the agent this provider started
  }
  return o.pid;
}

async function stop(pid: number | undefined, stateRoot: string): Promise<void> {
  if (alive(pid)) {
    process.kill(pid as number, "SIGTERM");
    for (let n = 0; n < 100 && alive(pid); n++) await new Promise((r) => setTimeout(r, 100));
    if (alive(pid)) process.kill(pid as number, "SIGKILL");
  }
  const haproxyPid = join(stateRoot, "proxy", "haproxy.pid");
  if (existsSync(haproxyPid)) {
    const hp = Number(readFileSync(haproxyPid, "utf8").trim().split("\n")[0]);
    if (alive(hp)) {
      process.kill(hp, "SIGUSR1");
      for (let n = 0; n < 50 && alive(hp); n++) await new Promise((r) => setTimeout(r, 100));
      if (alive(hp)) process.kill(hp, "SIGKILL");
    }
  }
}

/** Docker volumes berth bound to folders under the node's volume root (their data goes too). */
async function removeDockerVolumesUnder(volumeRoot: string): Promise<void> {
  const ls = await run("docker", ["volume", "ls", "--quiet", "--filter", "label=berth.environment"], {
    allowFailure: true,
  });
  for (const name of ls.stdout.split("\n").filter(Boolean)) {
    const device = await run(
      "docker",
      ["volume", "inspect", "--format", '{{index .Options "device"}}', name],
      {
        allowFailure: true,
      },
    );
    if (device.stdout.trim().startsWith(`${volumeRoot}/`))
      await run("docker", ["volume", "rm", name], { allowFailure: true });
  }
}

const LOCAL_REPLACE_HINT =
  "to make the local node anew instead (its apps and volumes go with it): pulumi up --replace on its LocalNode (pulumi stack --show-urns names it)";

/**
 * The identity in the channel against the keys in the state: the same, or the node is lost (the
 * update makes it anew), or accepted by the operator → fine; anything else is refused here, at
 * preview, naming the node and the command that accepts a legitimate change.
 */
async function checkIdentity(olds: LocalNodeOutputs, news: LocalNodeInputs): Promise<boolean> {
  if (!olds.statusKey || !olds.publicKey) return false; // taken at the next start
  if (!existsSync(olds.channelPath)) return false;
  const text = await new FolderChannelStore(olds.channelPath).get(channelKeys.identity(olds.nodeId));
  if (text === undefined) return false;
  const pinned = { publicKey: olds.publicKey, statusKey: olds.statusKey };
  const verdict = compareIdentity(text, {
    nodeId: olds.nodeId,
    pinned,
    enrollmentSecret: olds.enrollmentSecret ?? news.enrollmentSecret,
    ...(news.acceptKey ? { acceptKey: news.acceptKey } : {}),
    replaceHint: LOCAL_REPLACE_HINT,
  });
  if (verdict.kind === "same") return false;
  if (verdict.kind === "accepted") return true;
  if (!alive(currentPid(olds)) && !keysFolderExists(olds.stateRoot)) return true; // lost: made anew
  throw refusedNewKeys(olds.nodeId, verdict.keys, pinned, LOCAL_REPLACE_HINT);
}

export async function diff(
  _id: string,
  olds: LocalNodeOutputs,
  news: LocalNodeInputs,
): Promise<pulumi.dynamic.DiffResult> {
  const replaces = (["nodeId", "stateRoot"] as const).filter((k) => olds[k] !== news[k]);
  const configChanged = JSON.stringify(agentConfig(olds)) !== JSON.stringify(agentConfig(news));
  const newKeys = await checkIdentity(olds, news);
  const changes =
    replaces.length > 0 ||
    configChanged ||
    newKeys ||
    olds.agentEntry !== news.agentEntry ||
    olds.berthProviderVersion !== news.berthProviderVersion ||
    !alive(currentPid(olds));
  return { changes, replaces, deleteBeforeReplace: true };
}

/** `pulumi refresh`: an agent that stopped shows as pid 0 (the next up starts it). */
export async function read(id: string, props: LocalNodeOutputs): Promise<pulumi.dynamic.ReadResult> {
  const pid = currentPid(props);
  return { id, props: { ...props, pid: alive(pid) ? (pid as number) : 0 } };
}

export async function create(news: LocalNodeInputs): Promise<pulumi.dynamic.CreateResult> {
  const outs = await start(news);
  return { id: news.nodeId, outs };
}

export async function update(
  _id: string,
  olds: LocalNodeOutputs,
  news: LocalNodeInputs,
): Promise<pulumi.dynamic.UpdateResult> {
  await stop(currentPid(olds), olds.stateRoot);
  return { outs: await start(news, { publicKey: olds.publicKey, statusKey: olds.statusKey }) };
}

export async function remove(_id: string, olds: LocalNodeOutputs): Promise<void> {
  await stop(currentPid(olds), olds.stateRoot);
  const channel = new FolderChannelStore(olds.channelPath);
  if (existsSync(olds.channelPath)) {
    for (const key of await channel.list(`nodes/${olds.nodeId}/`)) await channel.delete(key);
  }
  await removeDockerVolumesUnder(olds.volumeRoot);
  if (existsSync(join(olds.stateRoot, LOCAL_NODE_MARKER)))
    rmSync(olds.stateRoot, { recursive: true, force: true });
  if (existsSync(join(olds.volumeRoot, LOCAL_NODE_MARKER)))
    rmSync(olds.volumeRoot, { recursive: true, force: true });
}
