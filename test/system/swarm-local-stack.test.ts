// A real `pulumi up` of a swarm (issue 23): the local target with `berth:localNodes` (one agent on
// this machine per Docker Engine of the swarm test bed, each with its own HAProxy on 127.0.0.1)
// and `berth:nodeGroups` of them, and an environment with `nodeGroup`. The real Pulumi CLI runs
// the program: each LocalNode starts its agent against its engine, NodeGroup signs the membership,
// the agents form the swarm through sealed join offers, the environment's release goes to the
// leader rendered for Swarm, and `pulumi up` returns once the leader's signed status says the
// stack converged (berth-proxy on every node included). Every node's own HAProxy then serves the
// route's host from its node's proxy. Then a node is replaced (`pulumi up --replace` of its
// LocalNode: new keys, and its engine left the swarm, as a fresh machine's): the program's new
// membership pins the new key, the agents rejoin it on their own, the old engine's entry goes, and
// its HAProxy serves the host again. `pulumi destroy` withdraws it and stops the agents.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { FolderChannelStore } from "../../contract/channel/folder-store";
import { readStatus } from "../../contract/channel/publish";
import { type RunResult, run } from "../../lib/process";
import { freePort, httpGet } from "./support/agent-harness";
import { REPO_ROOT } from "./support/pulumi-project";
import { type BedNode, type SwarmBed, startSwarmBed } from "./support/swarm-engines";
import { swarmTrafficReport } from "./support/swarm-traffic-report";
import { fixtureImage, testAppImage } from "./support/test-app-image";

const RUN = Math.random().toString(36).slice(2, 6);
const STACK = `swarm${RUN}`;
const ENV = `shop${RUN}`;
const HOST = "shop.test";
const tmp = mkdtempSync(join(tmpdir(), "berth-swarm-stack-"));
const backend = join(tmp, "state");
const localRoot = join(tmp, "local");
const stackFile = join(REPO_ROOT, "stacks", `Pulumi.${STACK}.yaml`);
let bed: SwarmBed;
const ports = new Map<string, number>();

function pulumi(args: string[], opts: { allowFailure?: boolean } = {}): Promise<RunResult> {
  return run("pulumi", [...args, "--stack", STACK, "--non-interactive"], {
    cwd: REPO_ROOT,
    env: { PULUMI_BACKEND_URL: `file://${backend}`, PULUMI_CONFIG_PASSPHRASE: "berth-local" },
    timeoutMs: 420_000,
    ...opts,
  });
}

beforeAll(async () => {
  const image = await testAppImage();
  const proxyImage = await fixtureImage("swarm-proxy", "swarm-proxy:1");
  bed = await startSwarmBed(3);
  for (const n of bed.nodes) ports.set(n.name, await freePort());
  const appDir = join(tmp, "app");
  await run("mkdir", ["-p", appDir, backend]);
  writeFileSync(
    join(appDir, "compose.yaml"),
    stringify({
      services: {
        web: {
          image,
          environment: { MESSAGE: "swarm-v1" },
          healthcheck: {
            test: ["CMD-SHELL", "busybox wget -q -O /dev/null http://127.0.0.1:8080/health"],
            interval: "1s",
            retries: 3,
          },
          deploy: { replicas: 3 },
        },
      },
      "x-berth-routes": [{ service: "web", port: 8080, host: HOST }],
    }),
  );
  // The local stack's own file (its encryption salt, passphrase berth-local), with this test's
  // folders, the bed's engines as local nodes, one node group of them, and the environment on it.
  const doc = parse(readFileSync(join(REPO_ROOT, "stacks", "Pulumi.local.yaml"), "utf8"));
  const names = bed.nodes.map((n) => n.name);
  Object.assign(doc.config, {
    "berth:localRoot": localRoot,
    "berth:localHttpPort": await freePort(),
    "berth:releaseTimeoutSeconds": 180,
    "berth:localNodes": bed.nodes.map((n) => ({
      id: n.name,
      dockerHost: n.host,
      address: n.ip,
      httpPort: ports.get(n.name),
    })),
    "berth:nodeGroups": [
      { name: "web", nodes: names, managers: [names[0]], proxy: { image: proxyImage, port: 18080 } },
    ],
    "berth:environments": [
      {
        name: ENV,
        compose: join(appDir, "compose.yaml"),
        nodeGroup: "web",
        allowImagesOutsideNamespace: true,
      },
    ],
  });
  writeFileSync(stackFile, stringify(doc));
  await pulumi(["stack", "init"]);
}, 300_000);

afterAll(async () => {
  if (existsSync(join(localRoot, "node", "agent.pid")))
    await pulumi(["destroy", "--yes"], { allowFailure: true });
  rmSync(stackFile, { force: true });
  await bed?.stop();
  rmSync(tmp, { recursive: true, force: true });
}, 300_000);

describe("pulumi up of a swarm: the local target's node group on the bed's engines", () => {
  it("forms the swarm, applies the release once it converged, and every node's HAProxy serves the host", async () => {
    const up = await pulumi(["up", "--yes", "--skip-preview"], { allowFailure: true });
    expect(up.exitCode, `${up.stdout}\n${up.stderr}`).toBe(0);
    const leader = bed.nodes[0] as BedNode;
    const status = await readStatus(new FolderChannelStore(join(localRoot, "channel")), leader.name, ENV);
    const names = bed.nodes.map((n) => n.name).sort();
    expect(status).toMatchObject({ state: "applied", appliedSequence: 1 });
    // The proxy runs on every node (it counts in convergence); web's tasks go where Swarm put them
    // (all on the leader when the release came before the others had joined: Swarm does not
    // move running tasks onto a node that joins later).
    expect(status?.services).toEqual([
      { name: "berth-proxy", state: `3/3 running on ${names.join(", ")}` },
      { name: "web", state: expect.stringMatching(/^3\/3 running on /) },
    ]);
    const ls = await bed.docker(leader, ["node", "ls", "--format", "{{.Hostname}} {{.Status}}"]);
    expect(ls.stdout.trim().split("\n").sort()).toEqual(names.map((n) => `${n} Ready`));
    // Each node's agent routes the host (from the leader's signed route table) to its own proxy.
    const deadline = Date.now() + 60_000;
    for (const n of bed.nodes) {
      for (;;) {
        const r = await httpGet(ports.get(n.name) ?? 0, "/", HOST).catch(() => ({ status: 0, body: "" }));
        if (r.status === 200 && r.body === "swarm-v1") break;
        if (Date.now() > deadline)
          throw new Error(
            `${n.name}'s HAProxy answers ${r.status} ${r.body}\n${await swarmTrafficReport(bed, leader, n, {
              stack: `berth-${ENV}`,
              service: "web",
              port: 8080,
              adminSocket: join(localRoot, "nodes", n.name, "node", "proxy", "admin.sock"),
              agentLogs: [...new Set([leader.name, n.name])].map((id) =>
                join(localRoot, "nodes", id, "node", "agent.log"),
              ),
            })}`,
          );
        await new Promise((res) => setTimeout(res, 500));
      }
    }
  }, 480_000);

  it("a replaced node (pulumi up --replace of its LocalNode: new keys, a fresh engine) joins the swarm again, its old entry removed, and its HAProxy serves the host", async () => {
    const leader = bed.nodes[0] as BedNode;
    const node = bed.nodes[2] as BedNode;
    const keyFile = join(localRoot, "nodes", node.name, "node", "keys", "node.pub");
    const keyOf = () => (existsSync(keyFile) ? readFileSync(keyFile, "utf8") : "");
    const oldKey = keyOf();
    // The machine lost: its agent gone (killed, so it cannot join the engine again with its old
    // offer), then a fresh machine: its engine in no swarm.
    const pid = Number(readFileSync(join(localRoot, "nodes", node.name, "node", "agent.pid"), "utf8").trim());
    if (pid > 0) process.kill(pid, "SIGKILL");
    await bed.docker(node, ["swarm", "leave", "--force"]);
    const state = JSON.parse((await pulumi(["stack", "export"])).stdout) as {
      deployment: { resources?: { urn: string }[] };
    };
    const urn = state.deployment.resources?.map((r) => r.urn).find((u) => u.endsWith(`::node-${node.name}`));
    expect(urn, "the LocalNode's URN").toBeDefined();
    const up = await pulumi(["up", "--yes", "--skip-preview", "--replace", urn as string], {
      allowFailure: true,
    });
    expect(up.exitCode, `${up.stdout}\n${up.stderr}`).toBe(0);
    expect(keyOf()).not.toBe(oldKey);
    const names = bed.nodes.map((n) => n.name).sort();
    const nodeLs = async () =>
      (await bed.docker(leader, ["node", "ls", "--format", "{{.Hostname}} {{.Status}}"])).stdout
        .trim()
        .split("\n")
        .sort();
    // The agents do the rest on their own: the leader's offer sealed to the new key, the join,
    // the old engine's entry removed; berth-proxy starts there and the node routes the host.
    const deadline = Date.now() + 180_000;
    let last = "";
    for (;;) {
      const ls = await nodeLs();
      const r = await httpGet(ports.get(node.name) ?? 0, "/", HOST).catch(() => ({ status: 0, body: "" }));
      last = `the swarm: ${ls.join(", ")}; ${node.name}'s HAProxy: ${r.status} ${r.body}`;
      if (
        JSON.stringify(ls) === JSON.stringify(names.map((n) => `${n} Ready`)) &&
        r.status === 200 &&
        r.body === "swarm-v1"
      )
        break;
      if (Date.now() > deadline)
        throw new Error(
          `${last}\n${await swarmTrafficReport(bed, leader, node, {
            stack: `berth-${ENV}`,
            service: "web",
            port: 8080,
            adminSocket: join(localRoot, "nodes", node.name, "node", "proxy", "admin.sock"),
            agentLogs: [leader.name, node.name].map((id) =>
              join(localRoot, "nodes", id, "node", "agent.log"),
            ),
          })}`,
        );
      await new Promise((res) => setTimeout(res, 1000));
    }
  }, 480_000);
});
