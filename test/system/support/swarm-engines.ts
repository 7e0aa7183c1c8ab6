// The swarm test bed: N Docker Engines on this machine, each in a container of its own (so its own
// network namespace) running dockerd from Debian's docker.io, on a bridge network the test makes.
// The containers run --privileged: only this test bed does; nothing berth deploys may.
//
// - The host's client reaches each engine on a unix socket (`node.host`), never over TCP.
// - Each engine pulls from the local registry at the same address as the host does
//   (127.0.0.1:5000 inside its namespace): a socat there forwards to a unix socket that a socat on
//   the host forwards to the registry gate. Image references are the host's, unchanged.
// - Names are unique (`berth-bed-<suffix>-<n>`); `stop()` removes the containers, their anonymous
//   volumes (the engines' data roots), the network, the forwarder and the folder.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NODE_LABEL } from "../../../contract/swarm/names";
import { type RunResult, run } from "../../../lib/process";
import * as cmd from "../../../node-agent/swarm/commands";
import { REGISTRY } from "./test-app-image";

export const SWARM_NODE_IMAGE = "berth-test/swarm-node:1";

export interface BedNode {
  /** the container's name, also the engine's hostname and its swarm node name */
  name: string;
  /** DOCKER_HOST for this engine: unix://<dir>/<name>/docker.sock */
  host: string;
  /** the node's address on the test bed's network */
  ip: string;
}

export interface SwarmBed {
  nodes: BedNode[];
  network: string;
  /** `docker ARGS` against one node's engine (BERTH_DOCKER_CONFIG, so logged in to the registry). */
  docker(
    node: BedNode,
    args: readonly string[],
    opts?: { allowFailure?: boolean | undefined; timeoutMs?: number | undefined; input?: string | undefined },
  ): Promise<RunResult>;
  /** Kills a node's container (its engine and every task on it), as a lost machine. */
  kill(node: BedNode): Promise<void>;
  stop(): Promise<void>;
  /**
   * With `sharedFolder`: a folder of this machine at the same path in every engine's container,
   * where a mount made on this machine afterwards (a volume's disk an agent mounts) shows inside
   * the engines too, as on a real node, where the agent and its engine share the host.
   */
  shared?: string;
}

/** Builds the node image on the host engine once (Debian's docker.io on berth's base image). */
export async function swarmNodeImage(): Promise<string> {
  const have = await run("docker", ["image", "inspect", SWARM_NODE_IMAGE], { allowFailure: true });
  if (have.exitCode !== 0) {
    await run(
      "docker",
      [
        "build",
        "--quiet",
        "--build-arg",
        `BASE_IMAGE=${process.env.BERTH_BASE_IMAGE}`,
        "--tag",
        SWARM_NODE_IMAGE,
        join(__dirname, "..", "fixtures", "swarm-node"),
      ],
      { env: { DOCKER_CONFIG: process.env.BERTH_DOCKER_CONFIG ?? "" }, timeoutMs: 600_000 },
    );
  }
  return SWARM_NODE_IMAGE;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * `hostDataRoots`: each engine keeps its data (its volumes among them) in a folder of this machine
 * mounted at the same path inside its container (`dockerd --data-root`), so a volume's Mountpoint
 * as its engine reports it is a path the agent on this machine reads, as on a real node, where
 * the agent and its engine share the host (backups of a holder's volumes read it).
 */
export async function startSwarmBed(
  count: number,
  o: { hostDataRoots?: boolean; sharedFolder?: boolean } = {},
): Promise<SwarmBed> {
  const image = await swarmNodeImage();
  const suffix = Math.random().toString(36).slice(2, 8);
  const prefix = `berth-bed-${suffix}`;
  const dir = mkdtempSync(join(tmpdir(), "berth-bed-"));
  const gateDir = join(dir, "gate");
  mkdirSync(gateDir);
  const network = prefix;
  const nodes: BedNode[] = [];
  const containers: string[] = [];
  let forwarder: ChildProcess | undefined;
  let networkMade = false;
  const env = { DOCKER_CONFIG: process.env.BERTH_DOCKER_CONFIG ?? "" };

  // A mount of its own, shared, so that mounts under it reach the engines' containers (rslave).
  const shared = o.sharedFolder ? join(dir, "shared") : undefined;
  if (shared) {
    mkdirSync(shared);
    await run("mount", ["--bind", shared, shared]);
    await run("mount", ["--make-rshared", shared]);
  }

  const stop = async () => {
    if (containers.length > 0)
      await run("docker", ["rm", "-f", "-v", ...containers], { allowFailure: true, timeoutMs: 120_000 });
    if (networkMade) await run("docker", ["network", "rm", network], { allowFailure: true });
    forwarder?.kill("SIGTERM");
    if (shared) {
      // The disks mounted under it (deepest first), then the folder's own mount.
      const mounts = readFileSync("/proc/self/mountinfo", "utf8")
        .split("\n")
        .map((l) => l.split(" ")[4] ?? "")
        .filter((m) => m === shared || m.startsWith(`${shared}/`))
        .sort((a, b) => b.length - a.length);
      for (const m of mounts) await run("umount", [m], { allowFailure: true });
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const docker: SwarmBed["docker"] = (node, args, opts = {}) =>
    run("docker", args, {
      env: { ...env, DOCKER_HOST: node.host },
      timeoutMs: opts.timeoutMs ?? 120_000,
      allowFailure: opts.allowFailure,
      ...(opts.input !== undefined ? { input: opts.input } : {}),
    });

  try {
    // The host side of the registry path: a unix socket, forwarded to the gate on loopback.
    forwarder = spawn(
      "socat",
      [`UNIX-LISTEN:${join(gateDir, "gate.sock")},fork,mode=600`, `TCP:${REGISTRY}`],
      {
        stdio: "ignore",
      },
    );
    await run("docker", [
      "network",
      "create",
      "--driver",
      "bridge",
      "--label",
      `berth.test-bed=${suffix}`,
      network,
    ]);
    networkMade = true;
    for (let i = 1; i <= count; i++) {
      const name = `${prefix}-${i}`;
      const nodeDir = join(dir, name);
      mkdirSync(nodeDir);
      const dataRoot = join(nodeDir, "data-root");
      if (o.hostDataRoots) mkdirSync(dataRoot);
      containers.push(name);
      await run("docker", [
        "run",
        "--detach",
        "--name",
        name,
        "--hostname",
        name,
        "--label",
        `berth.test-bed=${suffix}`,
        "--privileged",
        "--network",
        network,
        "--volume",
        o.hostDataRoots ? `${dataRoot}:${dataRoot}` : "/var/lib/docker",
        ...(shared ? ["--mount", `type=bind,src=${shared},dst=${shared},bind-propagation=rslave`] : []),
        "--volume",
        `${nodeDir}:/run/berth-bed`,
        "--volume",
        `${gateDir}:/run/berth-gate`,
        image,
        ...(o.hostDataRoots ? ["--data-root", dataRoot] : []),
      ]);
      const ip = (
        await run("docker", [
          "inspect",
          "--format",
          `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`,
          name,
        ])
      ).stdout.trim();
      nodes.push({ name, host: `unix://${join(nodeDir, "docker.sock")}`, ip });
    }
    for (const node of nodes) {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const r = await docker(node, ["version", "--format", "{{.Server.Version}}"], {
          allowFailure: true,
          timeoutMs: 10_000,
        });
        if (r.exitCode === 0) break;
        if (Date.now() > deadline) {
          const logs = await run("docker", ["logs", "--tail", "20", node.name], { allowFailure: true });
          throw new Error(
            `the engine in ${node.name} did not answer within 60 s: ${logs.stdout}${logs.stderr}`,
          );
        }
        await sleep(300);
      }
    }
    return {
      nodes,
      network,
      docker,
      kill: async (node) => {
        await run("docker", ["kill", node.name], { allowFailure: true });
      },
      stop,
      ...(shared ? { shared } : {}),
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

export interface FormedSwarm {
  managers: BedNode[];
  workers: BedNode[];
}

/**
 * Forms a swarm on the bed: the first node initialises it, the next `managers - 1` join as
 * managers, the rest as workers. Each advertises its address on the bed's network, and carries
 * the label `berth.node=<its name>` that placement constraints select on.
 */
export async function formSwarm(bed: SwarmBed, managers: 1 | 3): Promise<FormedSwarm> {
  if (bed.nodes.length < managers)
    throw new Error(`formSwarm: ${managers} managers need as many nodes (the bed has ${bed.nodes.length})`);
  const [first, ...rest] = bed.nodes as [BedNode, ...BedNode[]];
  // The agents' own commands (node-agent/swarm/commands.ts), run against the bed's engines.
  await bed.docker(first, cmd.swarmInit(first.ip).args);
  const token = async (role: "manager" | "worker") =>
    (await bed.docker(first, cmd.joinToken(role).args)).stdout.trim();
  const managerToken = await token("manager");
  const workerToken = await token("worker");
  const formed: FormedSwarm = { managers: [first], workers: [] };
  for (const node of rest) {
    const asManager = formed.managers.length < managers;
    await bed.docker(node, cmd.swarmJoin(asManager ? managerToken : workerToken, first.ip, node.ip).args);
    (asManager ? formed.managers : formed.workers).push(node);
  }
  // Each node labelled with its id, as the manager's agent labels berth's nodes.
  for (const node of bed.nodes) await bed.docker(first, cmd.labelNode(node.name, NODE_LABEL, node.name).args);
  return formed;
}
