// Docker Swarm on real engines (issue 23): three Docker Engines on this machine, each in its own
// network namespace (test/system/support/swarm-engines.ts), formed into a swarm of 1 manager and
// 2 workers, and separately of 3 managers. On them, a release rendered for Swarm
// (contract/swarm/render.ts) is applied by the manager's apply (node-agent/swarm/apply.ts):
// replicas spread over the nodes, a stateful service pinned to the node holding its volume,
// secrets as files in the tasks and absent from docker inspect, a failing health check rolled
// back with the service and node named, and with 3 managers a release still applies after one
// manager is killed. A third bed is formed by the agents' own formation code
// (node-agent/swarm/formation.ts) from the program's signed membership, through join offers in a
// folder channel: the token sealed to each node, a channel writer's forged offer and forged
// membership refused, no token in the channel in plain text. A fourth runs the real agent (in
// process) against the bed's manager: a signed Swarm release verified, deployed, reported.
//
// This machine's kernel has no IPVS and no IPsec ESP (machine.md): Swarm's virtual IPs and
// routing mesh do not answer here, and encrypted overlays cannot encrypt. The stack therefore
// resolves services by DNS round robin (which berth renders anyway) and the bed renders its
// overlays unencrypted.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { FolderChannelStore } from "../../contract/channel/folder-store";
import { readStatus } from "../../contract/channel/publish";
import type { Manifest } from "../../contract/manifest/schema";
import {
  generateNodeKeyPair,
  generateSigningKeyPair,
  type NodeKeyPair,
  type SigningKeyPair,
  TrustedKeys,
} from "../../contract/payload";
import { joinOfferKey, makeJoinOffer } from "../../contract/swarm/join";
import { membershipKey, signMembership, verifyMembership } from "../../contract/swarm/membership";
import { NODE_LABEL, secretVersion } from "../../contract/swarm/names";
import { renderSwarmStack } from "../../contract/swarm/render";
import { run } from "../../lib/process";
import type { DockerRunner } from "../../node-agent/docker";
import { applySwarmRelease } from "../../node-agent/swarm/apply";
import { formFromMembership } from "../../node-agent/swarm/formation";
import { AgentHarness } from "./support/agent-harness";
import { swarmApp } from "./support/swarm-app";
import { type BedNode, formSwarm, type SwarmBed, startSwarmBed } from "./support/swarm-engines";
import { fixtureImage, testAppImage } from "./support/test-app-image";

const SECRET = "swarm-secret-value-4711";
const VERSION_KEY = Buffer.alloc(32, 3);

let image: string;
let proxyImage: string;
let dir: string;

beforeAll(async () => {
  image = await testAppImage();
  proxyImage = await fixtureImage("swarm-proxy", "swarm-proxy:1");
  dir = mkdtempSync(join(tmpdir(), "berth-swarm-test-"));
}, 600_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The agent's runner, pointed at one engine of the bed. */
function runnerFor(bed: SwarmBed, node: BedNode): DockerRunner {
  return (c, opts = {}) =>
    bed.docker(node, c.args, {
      allowFailure: opts.allowFailure,
      timeoutMs: opts.timeoutMs,
      input: opts.input,
    });
}

const app = (health?: string[], message = "v1") => swarmApp(image, health, message);

function render(m: Manifest, sequence: number, volumeNode: string) {
  const r = renderSwarmStack(m, {
    environmentId: "shop",
    sequence,
    images: { web: image, store: image },
    volumeNodes: { data: volumeNode },
    secretVersions: { "api-token": secretVersion(VERSION_KEY, "shop", "api-token", SECRET) },
    encryptNetworks: false,
    monitorMs: 3000,
  });
  const file = join(dir, `stack-${sequence}-${Math.random().toString(36).slice(2, 6)}.json`);
  writeFileSync(file, r.text);
  return { ...r, file };
}

async function tasksOf(bed: SwarmBed, manager: BedNode, service: string) {
  const r = await bed.docker(manager, [
    "service",
    "ps",
    "--filter",
    "desired-state=running",
    "--format",
    "{{.Node}} {{.CurrentState}}",
    `berth-shop_${service}`,
  ]);
  return r.stdout
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => ({ node: l.split(" ")[0] ?? "", state: l.split(" ")[1] ?? "" }));
}

describe("a swarm of 1 manager and 2 workers", () => {
  let bed: SwarmBed;
  let manager: BedNode;

  beforeAll(async () => {
    bed = await startSwarmBed(3);
    const formed = await formSwarm(bed, 1);
    manager = formed.managers[0] as BedNode;
  }, 180_000);
  afterAll(async () => {
    await bed?.stop();
  }, 180_000);

  it("forms: three engines in their own namespaces, one leader, two workers, all ready", async () => {
    const ls = await bed.docker(manager, [
      "node",
      "ls",
      "--format",
      "{{.Hostname}} {{.Status}} {{.ManagerStatus}}",
    ]);
    const rows = ls.stdout
      .trim()
      .split("\n")
      .map((l) => l.trim())
      .sort();
    expect(rows).toEqual(bed.nodes.map((n, i) => `${n.name} Ready${i === 0 ? " Leader" : ""}`.trim()).sort());
    const ips = new Set(bed.nodes.map((n) => n.ip));
    expect(ips.size).toBe(3);
  });

  it("applies a Swarm release: replicas spread, the store pinned to its disk's node, secrets as files absent from docker inspect", async () => {
    const volumeNode = bed.nodes[1] as BedNode;
    const r = render(app(), 1, volumeNode.name);
    const result = await applySwarmRelease(runnerFor(bed, manager), {
      file: r.file,
      environmentId: "shop",
      secretValues: { "api-token": SECRET },
      timeoutMs: 120_000,
      pollMs: 500,
    });
    expect(result.warnings).toEqual([]);
    expect(result.reason).toBe("");
    expect(result.outcome).toBe("applied");
    const web = result.state.services.find((s) => s.service === "web");
    expect(web).toMatchObject({ running: 3, desired: 3, state: "converged" });
    expect(web?.nodes).toEqual(bed.nodes.map((n) => n.name).sort());
    expect(result.state.services.find((s) => s.service === "store")).toMatchObject({
      nodes: [volumeNode.name],
    });

    // The secret is a file in the task, with its mode; the config too.
    const ps = await bed.docker(volumeNode, [
      "ps",
      "--filter",
      "label=com.docker.swarm.service.name=berth-shop_web",
      "--format",
      "{{.ID}}",
    ]);
    const container = ps.stdout.trim().split("\n")[0] ?? "";
    const cat = await bed.docker(volumeNode, [
      "exec",
      container,
      "sh",
      "-c",
      "cat /run/secrets/api_token; stat -c %a /run/secrets/api_token; cat /etc/site.conf",
    ]);
    expect(cat.stdout).toBe(`${SECRET}400\nmessage = v1\n`);
    // …and absent from docker inspect of the service, the task's container and the secret object.
    const inspected = [
      await bed.docker(manager, ["service", "inspect", "berth-shop_web"]),
      await bed.docker(volumeNode, ["inspect", container]),
      await bed.docker(manager, ["secret", "inspect", r.extras.secrets[0]?.name ?? ""]),
    ];
    for (const i of inspected) expect(i.stdout).not.toContain(SECRET);
    expect(r.text).not.toContain(SECRET);

    // Services reach each other across nodes on the overlay, by DNS round robin.
    const seen = await bed.docker(volumeNode, [
      "exec",
      container,
      "sh",
      "-c",
      "for i in 1 2 3 4 5 6 7 8 9; do busybox wget -q -T 3 -O /dev/null http://web:8080/health && echo ok; busybox wget -q -T 3 -O - http://store:9000/starts >/dev/null && echo store; done",
    ]);
    expect(
      seen.stdout
        .trim()
        .split("\n")
        .filter((l) => l === "ok"),
    ).toHaveLength(9);
    expect(
      seen.stdout
        .trim()
        .split("\n")
        .filter((l) => l === "store"),
    ).toHaveLength(9);
  }, 240_000);

  it("an upgrade keeps the store on its node; a failing health check is rolled back, naming the service and the node", async () => {
    const volumeNode = bed.nodes[1] as BedNode;
    const v2 = render(app(undefined, "v2"), 2, volumeNode.name);
    const ok = await applySwarmRelease(runnerFor(bed, manager), {
      file: v2.file,
      environmentId: "shop",
      secretValues: { "api-token": SECRET },
      timeoutMs: 120_000,
      pollMs: 500,
    });
    expect(ok.outcome).toBe("applied");
    expect((await tasksOf(bed, manager, "store")).map((t) => t.node)).toEqual([volumeNode.name]);
    const starts = await bed.docker(manager, [
      "service",
      "inspect",
      "berth-shop_store",
      "--format",
      "{{json .Spec.TaskTemplate.Placement}}",
    ]);
    expect(JSON.parse(starts.stdout)).toEqual({
      Constraints: [`node.labels.berth.node == ${volumeNode.name}`],
    });

    const broken = render(app(["CMD", "false"], "v3"), 3, volumeNode.name);
    const failed = await applySwarmRelease(runnerFor(bed, manager), {
      file: broken.file,
      environmentId: "shop",
      secretValues: { "api-token": SECRET },
      timeoutMs: 120_000,
      pollMs: 500,
    });
    expect(failed.outcome).toBe("failed");
    expect(failed.reason).toMatch(/^web: update rollback/);
    expect(failed.reason).toMatch(new RegExp(`\\(on (${bed.nodes.map((n) => n.name).join("|")})\\)`));
    // Rolled back: three v2 tasks serve again.
    const spec = await bed.docker(manager, [
      "service",
      "inspect",
      "berth-shop_web",
      "--format",
      "{{json .Spec.TaskTemplate.ContainerSpec.Env}}",
    ]);
    expect(JSON.parse(spec.stdout)).toEqual(["MESSAGE=v2"]);
    const doc = parse(broken.text);
    expect(doc.services.web.deploy.update_config.failure_action).toBe("rollback");

    // A signed stack that binds the node's Docker socket is refused before anything is deployed.
    doc.services.web.volumes = [{ type: "bind", source: "/var/run/docker.sock", target: "/run/docker.sock" }];
    const evil = join(dir, "evil.json");
    writeFileSync(evil, JSON.stringify(doc));
    await expect(
      applySwarmRelease(runnerFor(bed, manager), {
        file: evil,
        environmentId: "shop",
        secretValues: {},
        timeoutMs: 10_000,
      }),
    ).rejects.toThrow(
      /^NODE_RULES: .*services\.web\.volumes\[0\]: only the stack's volumes and tmpfs \(a bind mount could reach the node\)/,
    );
    const mounts = await bed.docker(manager, [
      "service",
      "inspect",
      "berth-shop_web",
      "--format",
      "{{json .Spec.TaskTemplate.ContainerSpec.Mounts}}",
    ]);
    expect(mounts.stdout).not.toContain("docker.sock");
  }, 300_000);

  it("applied means every node's proxy reaches the tasks: with the overlay to one node dropped, the release is not applied and that node is named; once it carries traffic again, applied", async () => {
    // The routed service is the store, pinned to its volume's node; VXLAN dropped on another node
    // (as a kernel without ESP drops an encrypted overlay's packets, while Swarm says all is well).
    const volumeNode = bed.nodes[1] as BedNode;
    const cut = bed.nodes[2] as BedNode;
    const m = {
      ...app(undefined, "v2"),
      routes: [{ service: "store", port: 9000, host: "store.example.com" }],
    };
    const r = renderSwarmStack(m, {
      environmentId: "shop",
      sequence: 4,
      images: { web: image, store: image },
      volumeNodes: { data: volumeNode.name },
      secretVersions: { "api-token": secretVersion(VERSION_KEY, "shop", "api-token", SECRET) },
      encryptNetworks: false,
      monitorMs: 3000,
      proxy: { image: proxyImage, port: 18080 },
    });
    const file = join(dir, "stack-4-proxy.json");
    writeFileSync(file, r.text);
    const vxlan = (op: "-I" | "-D") => [
      ["exec", cut.name, "iptables", op, "INPUT", "-p", "udp", "--dport", "4789", "-j", "DROP"],
      ["exec", cut.name, "iptables", op, "OUTPUT", "-p", "udp", "--dport", "4789", "-j", "DROP"],
    ];
    for (const args of vxlan("-I")) await run("docker", args);
    let cutOff: Awaited<ReturnType<typeof applySwarmRelease>>;
    try {
      cutOff = await applySwarmRelease(runnerFor(bed, manager), {
        file,
        environmentId: "shop",
        secretValues: { "api-token": SECRET },
        timeoutMs: 60_000,
        pollMs: 500,
      });
    } finally {
      for (const args of vxlan("-D")) await run("docker", args);
    }
    // Swarm itself says the stack converged: every task running, the proxy on every node.
    expect(cutOff.state.converged).toBe(true);
    expect(cutOff.outcome).toBe("timed-out");
    expect(cutOff.reason).toMatch(
      new RegExp(`^berth-proxy: on ${cut.name} \\(${cut.ip.replace(/\./g, "\\.")}:18080\\) HTTP 503: `),
    );
    expect(cutOff.reason).not.toMatch(new RegExp(`on ${volumeNode.name} `));
    const ok = await applySwarmRelease(runnerFor(bed, manager), {
      file,
      environmentId: "shop",
      secretValues: { "api-token": SECRET },
      timeoutMs: 120_000,
      pollMs: 500,
    });
    expect(ok.outcome, ok.reason).toBe("applied");
  }, 300_000);
});

describe("a swarm of 3 managers", () => {
  let bed: SwarmBed;

  beforeAll(async () => {
    bed = await startSwarmBed(3);
    await formSwarm(bed, 3);
  }, 180_000);
  afterAll(async () => {
    await bed?.stop();
  }, 180_000);

  it("forms with three managers, and after one is killed the next release still applies", async () => {
    const [first, second] = bed.nodes as [BedNode, BedNode, BedNode];
    const ls = await bed.docker(first, ["node", "ls", "--format", "{{.ManagerStatus}}"]);
    expect(ls.stdout.trim().split("\n").sort()).toEqual(["Leader", "Reachable", "Reachable"]);

    await bed.kill(first);
    // Raft elects a leader among the two left; the stack (its volume on a live node) applies.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const r = await bed.docker(
        second,
        ["node", "ls", "--format", "{{.Hostname}} {{.Status}} {{.ManagerStatus}}"],
        { allowFailure: true },
      );
      if (r.exitCode === 0 && /Leader/.test(r.stdout)) break;
      if (Date.now() > deadline)
        throw new Error(`no leader after a manager was killed: ${r.stdout}${r.stderr}`);
      await new Promise((res) => setTimeout(res, 500));
    }
    // Two nodes left: web's three replicas share them.
    const r = render(app(), 1, second.name);
    const result = await applySwarmRelease(runnerFor(bed, second), {
      file: r.file,
      environmentId: "shop",
      secretValues: { "api-token": SECRET },
      timeoutMs: 120_000,
      pollMs: 500,
    });
    expect(result.reason).toBe("");
    expect(result.outcome).toBe("applied");
    const nodes = new Set((await tasksOf(bed, second, "web")).map((t) => t.node));
    expect(nodes.has(first.name)).toBe(false);
  }, 300_000);
});

describe("agents form the swarm through sealed join offers", () => {
  let bed: SwarmBed;
  let channelDir: string;

  beforeAll(async () => {
    bed = await startSwarmBed(3);
    channelDir = mkdtempSync(join(tmpdir(), "berth-swarm-channel-"));
  }, 180_000);
  afterAll(async () => {
    await bed?.stop();
    rmSync(channelDir, { recursive: true, force: true });
  }, 180_000);

  it("from the program's signed membership: the leader initialises and seals a token to each node; forged offers and memberships are refused; the nodes join", async () => {
    const [first, second, third] = bed.nodes as [BedNode, BedNode, BedNode];
    const store = new FolderChannelStore(channelDir);
    const program = generateSigningKeyPair();
    const trusted = new TrustedKeys([program.publicKey]);
    const keys = new Map(
      bed.nodes.map((n) => [n.name, { node: generateNodeKeyPair(), status: generateSigningKeyPair() }]),
    );
    const keysOf = (n: BedNode) => keys.get(n.name) as { node: NodeKeyPair; status: SigningKeyPair };
    // The program's side: who is in the group, with the keys its state pins.
    await store.put(
      membershipKey("web"),
      signMembership(
        {
          group: "web",
          generation: 1,
          issuedAt: new Date().toISOString(),
          expiresAt: new Date(Date.now() + 3600_000).toISOString(),
          leader: first.name,
          leaderAddress: first.ip,
          members: bed.nodes.map((n, i) => ({
            nodeId: n.name,
            role: i === 0 ? ("manager" as const) : ("worker" as const),
            publicKey: keysOf(n).node.publicKey,
            statusKey: keysOf(n).status.publicKey,
          })),
        },
        program.privateKey,
      ),
    );
    const step = async (n: BedNode) =>
      formFromMembership(runnerFor(bed, n), store, {
        nodeId: n.name,
        advertiseAddr: n.ip,
        membership: verifyMembership((await store.get(membershipKey("web"))) ?? "", {
          group: "web",
          nodeId: n.name,
          trusted,
        }),
        nodePrivateKey: keysOf(n).node.privateKey,
        statusPrivateKey: keysOf(n).status.privateKey,
      });

    expect(await step(second)).toEqual({
      joined: false,
      reason: `no join offer at swarm/web/join/${second.name}.json yet`,
    });
    expect(await step(first)).toEqual({ led: true, unlabelled: [second.name, third.name] });

    // A channel writer swaps the second node's offer for one of its own (its key, its manager).
    const writer = generateSigningKeyPair();
    const honest = await store.get(joinOfferKey("web", second.name));
    await store.put(
      joinOfferKey("web", second.name),
      makeJoinOffer({
        group: "web",
        nodeId: second.name,
        role: "worker",
        generation: 1,
        managers: ["127.0.0.1:2377"],
        token: "SWMTKN-1-forged",
        nodePublicKey: keysOf(second).node.publicKey,
        leaderStatusKey: writer.privateKey,
      }),
    );
    const refused = await step(second);
    expect(refused).toMatchObject({
      joined: false,
      reason: expect.stringMatching(/not by the leader's key/),
    });
    expect((await bed.docker(second, ["info", "--format", "{{.Swarm.LocalNodeState}}"])).stdout.trim()).toBe(
      "inactive",
    );
    // …or a membership of its own that names it leader: not signed by a key the nodes trust.
    const forged = signMembership(
      {
        group: "web",
        generation: 2,
        issuedAt: new Date().toISOString(),
        expiresAt: new Date(Date.now() + 3600_000).toISOString(),
        leader: second.name,
        leaderAddress: second.ip,
        members: [
          {
            nodeId: second.name,
            role: "manager",
            publicKey: keysOf(second).node.publicKey,
            statusKey: writer.publicKey,
          },
        ],
      },
      writer.privateKey,
    );
    expect(() => verifyMembership(forged, { group: "web", nodeId: second.name, trusted })).toThrow(
      /which this node does not trust/,
    );

    await store.put(joinOfferKey("web", second.name), honest ?? "");
    expect(await step(second)).toEqual({ joined: true, role: "worker", generation: 1 });
    expect(await step(third)).toEqual({ joined: true, role: "worker", generation: 1 });
    expect(await step(third)).toEqual({ joined: false, reason: "already in a swarm" });
    expect(await step(first)).toEqual({ led: true, unlabelled: [] });

    const ls = await bed.docker(first, [
      "node",
      "ls",
      "--format",
      "{{.Hostname}} {{.Status}} {{.ManagerStatus}}",
    ]);
    expect(
      ls.stdout
        .trim()
        .split("\n")
        .map((l) => l.trim())
        .sort(),
    ).toEqual([`${first.name} Ready Leader`, `${second.name} Ready`, `${third.name} Ready`].sort());
    const labels = await bed.docker(first, [
      "node",
      "inspect",
      second.name,
      "--format",
      "{{json .Spec.Labels}}",
    ]);
    expect(JSON.parse(labels.stdout)).toEqual({ [NODE_LABEL]: second.name });

    // The real tokens are nowhere in the channel in plain text.
    const tokens = [
      (await bed.docker(first, ["swarm", "join-token", "--quiet", "worker"])).stdout.trim(),
      (await bed.docker(first, ["swarm", "join-token", "--quiet", "manager"])).stdout.trim(),
    ];
    const files = readdirSync(channelDir, { recursive: true, withFileTypes: true }).filter((f) => f.isFile());
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const text = readFileSync(join(f.parentPath, f.name), "utf8");
      for (const t of tokens) expect(text).not.toContain(t);
    }
  }, 240_000);
});

/**
 * The release text without its holders' list (`x-berth.volumes`): this bed's swarm was formed by
 * the test, not from a signed membership, and runs no agent on the volume's node, so no holder
 * could say its volumes are ready and the manager would wait for them to its bound. A holder's
 * readiness before the deploy is swarm-volumes.test.ts's subject; the pin stays in the file.
 */
function withoutHolders(r: { text: string }): string {
  const body = r.text.slice(r.text.indexOf("{"));
  const doc = JSON.parse(body) as { "x-berth": { volumes?: unknown } };
  expect(doc["x-berth"].volumes).toBeDefined();
  delete doc["x-berth"].volumes;
  return `${r.text.slice(0, r.text.indexOf("{"))}${JSON.stringify(doc, null, 2)}\n`;
}

describe("the manager's agent applies a signed Swarm release", () => {
  let bed: SwarmBed;
  let h: AgentHarness;

  beforeAll(async () => {
    bed = await startSwarmBed(3);
    await formSwarm(bed, 1);
    h = new AgentHarness();
    await h.start({ dockerHost: (bed.nodes[0] as BedNode).host, healthTimeoutSeconds: 60 });
  }, 180_000);
  afterAll(async () => {
    await h?.cleanup([]);
    await bed?.stop();
  }, 180_000);

  it("verifies, deploys and reports applied only when converged; a failing health check is failed with the service and node", async () => {
    const volumeNode = bed.nodes[1] as BedNode;
    const names = bed.nodes.map((n) => n.name).sort();
    const v1 = render(app(), 1, volumeNode.name);
    const applied = await h.deploy("shop", 1, app(), {
      text: withoutHolders(v1),
      secrets: { "api-token": SECRET },
    });
    expect(applied.error).toBeUndefined();
    expect(applied).toMatchObject({ state: "applied", appliedSequence: 1 });
    expect(applied.services).toEqual([
      { name: "store", state: `1/1 running on ${volumeNode.name}` },
      { name: "web", state: `3/3 running on ${names.join(", ")}` },
    ]);

    const v2 = render(app(["CMD", "false"], "v2"), 2, volumeNode.name);
    const failed = await h.deploy("shop", 2, app(), {
      text: withoutHolders(v2),
      secrets: { "api-token": SECRET },
    });
    expect(failed).toMatchObject({ state: "failed", appliedSequence: 1, attemptedSequence: 2 });
    expect(failed.error).toMatch(/^release 2 failed on the swarm: web: update rollback/);
    expect(failed.error).toMatch(new RegExp(`\\(on (${names.join("|")})\\)$`));

    // The secret is in neither the channel nor the agent's state, in plain text.
    for (const root of [h.channelDir, h.stateRoot]) {
      const files = readdirSync(root, { recursive: true, withFileTypes: true }).filter((f) => f.isFile());
      for (const f of files) expect(readFileSync(join(f.parentPath, f.name), "utf8")).not.toContain(SECRET);
    }

    // A signed withdrawal removes the stack; its volume stays on its node.
    await h.withdraw("shop");
    await h.agent.pollOnce();
    expect((await readStatus(h.channel, h.nodeId, "shop"))?.state).toBe("removed");
    const manager = bed.nodes[0] as BedNode;
    const deadline = Date.now() + 60_000;
    for (;;) {
      const left = await bed.docker(manager, [
        "service",
        "ls",
        "--filter",
        "label=com.docker.stack.namespace=berth-shop",
        "--quiet",
      ]);
      if (left.stdout.trim() === "") break;
      if (Date.now() > deadline) throw new Error(`the stack's services are still there: ${left.stdout}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    const volumes = await bed.docker(volumeNode, ["volume", "ls", "--format", "{{.Name}}"]);
    expect(volumes.stdout).toContain("berth_shop_data");
  }, 300_000);
});
