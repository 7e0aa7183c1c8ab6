// The agents form and keep the swarm on their own (issue 23), on the test bed's three Docker
// Engines (test/system/support/swarm-engines.ts), each driven by a real agent (node-agent/
// agent.ts, in process) whose poll loop runs the swarm pass (node-agent/swarm/swarm-pass.ts).
// They share one folder channel; the program's side is played by signing the membership with
// the release key, as SwarmMembership does. Shown here: the first manager initialises the swarm
// and the others join through their sealed offers; a replaced node (new keys, a fresh engine)
// joins again and its old engine is removed; a lost node taken out of the group is removed. And
// one test per attack of a channel writer: a forged membership, a replayed older one, a forged
// join offer: each is refused by the real agent and the swarm stays as it was.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSigningKeyPair, type SigningKeyPair } from "../../contract/payload";
import { joinOfferKey, makeJoinOffer } from "../../contract/swarm/join";
import { membershipKey, signMembership } from "../../contract/swarm/membership";
import { NODE_LABEL } from "../../contract/swarm/names";
import { loadOrCreateStatusKey } from "../../node-agent/node-keys";
import { AgentHarness } from "./support/agent-harness";
import { type BedNode, type SwarmBed, startSwarmBed } from "./support/swarm-engines";

let bed: SwarmBed;
let channelDir: string;
let program: SigningKeyPair;
/** The agent of each bed node (by node name); a replaced node gets a new one. */
const agents = new Map<string, AgentHarness>();
const retired: AgentHarness[] = [];
let leader: BedNode;
let second: BedNode;
let third: BedNode;

async function startAgent(n: BedNode): Promise<AgentHarness> {
  const h = new AgentHarness({ nodeId: n.name, channelDir, signing: program });
  await h.start({ dockerHost: n.host });
  agents.set(n.name, h);
  return h;
}

function membership(generation: number, nodes: BedNode[], signer = program.privateKey): string {
  return signMembership(
    {
      group: "web",
      generation,
      issuedAt: new Date().toISOString(),
      expiresAt: new Date(Date.now() + 3600_000).toISOString(),
      leader: leader.name,
      leaderAddress: leader.ip,
      members: nodes.map((n) => {
        const h = agents.get(n.name) as AgentHarness;
        return {
          nodeId: n.name,
          role: n === leader ? ("manager" as const) : ("worker" as const),
          publicKey: h.nodePublicKey,
          statusKey: loadOrCreateStatusKey(h.stateRoot).publicKey,
          address: n.ip,
        };
      }),
    },
    signer,
  );
}

/** The swarm as the leader's engine sees it: `hostname status manager-status`, sorted. */
async function nodeLs(): Promise<string[]> {
  const r = await bed.docker(leader, [
    "node",
    "ls",
    "--format",
    "{{.Hostname}} {{.Status}} {{.ManagerStatus}}",
  ]);
  return r.stdout
    .trim()
    .split("\n")
    .map((l) => l.trim())
    .sort();
}

/** The node's engine is in the swarm as the only node of its name, ready (its old engine gone). */
async function rejoined(n: BedNode): Promise<boolean> {
  const own = (
    await bed.docker(n, ["info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.NodeID}}"])
  ).stdout
    .trim()
    .split(" ");
  if (own[0] !== "active") return false;
  const rows = (
    await bed.docker(leader, ["node", "ls", "--format", "{{.ID}} {{.Hostname}} {{.Status}}"])
  ).stdout
    .trim()
    .split("\n")
    .map((l) => l.trim().split(" "))
    .filter((r) => r[1] === n.name);
  return rows.length === 1 && rows[0]?.[0] === own[1] && rows[0]?.[2] === "Ready";
}

/** Every node labelled `berth.node=<its id>`. */
async function labelled(nodes: BedNode[]): Promise<boolean> {
  for (const n of nodes) {
    const r = await bed.docker(leader, ["node", "inspect", n.name, "--format", "{{json .Spec.Labels}}"], {
      allowFailure: true,
    });
    if (r.exitCode !== 0 || JSON.parse(r.stdout || "{}")[NODE_LABEL] !== n.name) return false;
  }
  return true;
}

async function swarmState(n: BedNode): Promise<string> {
  return (await bed.docker(n, ["info", "--format", "{{.Swarm.LocalNodeState}}"])).stdout.trim();
}

/** Poll passes of the live agents (each one real pass of its loop) until `done`, bounded. */
async function passesUntil(done: () => Promise<boolean>, what: string, nodes: BedNode[]): Promise<void> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    for (const n of nodes) await agents.get(n.name)?.agent.pollOnce();
    if (await done()) return;
    if (Date.now() > deadline)
      throw new Error(`${what}: not reached; the swarm: ${(await nodeLs()).join(", ")}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

const formed = (names: string[]) => async () =>
  JSON.stringify(await nodeLs()) ===
  JSON.stringify(names.map((n) => (n === leader.name ? `${n} Ready Leader` : `${n} Ready`)).sort());

beforeAll(async () => {
  bed = await startSwarmBed(3);
  [leader, second, third] = bed.nodes as [BedNode, BedNode, BedNode];
  channelDir = mkdtempSync(join(tmpdir(), "berth-swarm-agents-"));
  program = generateSigningKeyPair();
  for (const n of bed.nodes) await startAgent(n);
}, 180_000);
afterAll(async () => {
  for (const h of [...agents.values(), ...retired]) await h.cleanup([]);
  await bed?.stop();
  rmSync(channelDir, { recursive: true, force: true });
}, 180_000);

describe("agents form and keep the swarm from the program's signed membership", () => {
  it("forms: the first manager initialises, the others join through offers sealed to them, all labelled; no token in plain text", async () => {
    await agents.get(second.name)?.channel.put(membershipKey("web"), membership(1, bed.nodes));
    await passesUntil(
      async () => (await formed(bed.nodes.map((n) => n.name))()) && (await labelled(bed.nodes)),
      "three nodes ready and labelled",
      bed.nodes,
    );
    for (const n of bed.nodes) {
      const labels = await bed.docker(leader, [
        "node",
        "inspect",
        n.name,
        "--format",
        "{{json .Spec.Labels}}",
      ]);
      expect(JSON.parse(labels.stdout)).toEqual({ [NODE_LABEL]: n.name });
    }
    const tokens = await Promise.all(
      ["worker", "manager"].map(async (r) =>
        (await bed.docker(leader, ["swarm", "join-token", "--quiet", r])).stdout.trim(),
      ),
    );
    for (const root of [channelDir, ...[...agents.values()].map((h) => h.stateRoot)]) {
      const files = readdirSync(root, { recursive: true, withFileTypes: true }).filter((f) => f.isFile());
      for (const f of files) {
        const text = readFileSync(join(f.parentPath, f.name), "utf8");
        for (const t of tokens) expect(text, join(f.parentPath, f.name)).not.toContain(t);
      }
    }
    for (const h of agents.values()) expect(h.agent.swarm.floors()).toEqual({ web: 1 });
  }, 180_000);

  it("attack: a channel writer's membership (its own key, a higher generation) is refused; the swarm stays", async () => {
    const writer = generateSigningKeyPair();
    const honest = await program2Text();
    const store = agents.get(leader.name)?.channel;
    // The same nodes at a higher generation, signed with the writer's own key.
    await store?.put(membershipKey("web"), membership(50, bed.nodes, writer.privateKey));
    for (const n of bed.nodes) {
      const steps = await agents.get(n.name)?.agent.swarm.run();
      expect(steps).toEqual([
        {
          group: "web",
          outcome: "refused",
          detail: expect.stringMatching(/which this node does not trust$/),
        },
      ]);
    }
    expect(await formed(bed.nodes.map((n) => n.name))()).toBe(true);
    for (const h of agents.values()) expect(h.agent.swarm.floors()).toEqual({ web: 1 });
    await store?.put(membershipKey("web"), honest);
  }, 120_000);

  it("attack: a replayed older membership is refused once a newer one was acted on", async () => {
    const old = await program2Text();
    const store = agents.get(leader.name)?.channel;
    await store?.put(membershipKey("web"), membership(2, bed.nodes));
    for (const n of bed.nodes) await agents.get(n.name)?.agent.pollOnce();
    for (const h of agents.values()) expect(h.agent.swarm.floors()).toEqual({ web: 2 });
    await store?.put(membershipKey("web"), old);
    for (const n of bed.nodes) {
      const steps = await agents.get(n.name)?.agent.swarm.run();
      expect(steps).toEqual([
        {
          group: "web",
          outcome: "refused",
          detail: expect.stringMatching(/generation 1 is below 2, which this node holds$/),
        },
      ]);
    }
    expect(await formed(bed.nodes.map((n) => n.name))()).toBe(true);
    await store?.put(membershipKey("web"), membership(3, bed.nodes));
  }, 120_000);

  it("attack: a forged join offer (the writer's key and manager) is refused; the leader writes its own again and the node rejoins, its old engine removed", async () => {
    // The third node's engine is out of the swarm (as a fresh engine would be).
    await bed.docker(third, ["swarm", "leave", "--force"]);
    const writer = generateSigningKeyPair();
    const store = agents.get(leader.name)?.channel;
    await store?.put(
      joinOfferKey("web", third.name),
      makeJoinOffer({
        group: "web",
        nodeId: third.name,
        role: "worker",
        generation: 3,
        managers: ["127.0.0.1:2377"],
        token: "SWMTKN-1-forged",
        nodePublicKey: agents.get(third.name)?.nodePublicKey ?? "",
        leaderStatusKey: writer.privateKey,
      }),
    );
    const steps = await agents.get(third.name)?.agent.swarm.run();
    expect(steps).toEqual([
      { group: "web", outcome: "refused", detail: expect.stringMatching(/not by the leader's key/) },
    ]);
    expect(await swarmState(third)).toBe("inactive");
    // The leader sees its offer gone from the channel and writes it again; the node joins.
    await passesUntil(() => rejoined(third), "the third node back, its old engine removed", bed.nodes);
    expect(await nodeLs()).toHaveLength(3);
  }, 180_000);

  it("a replaced node (new keys, a fresh engine) joins again after the program's new membership; the old engine is removed", async () => {
    const old = agents.get(second.name) as AgentHarness;
    const oldKey = old.nodePublicKey;
    retired.push(old);
    await bed.docker(second, ["swarm", "leave", "--force"]);
    const fresh = await startAgent(second);
    expect(fresh.nodePublicKey).not.toBe(oldKey);
    await fresh.channel.put(membershipKey("web"), membership(4, bed.nodes));
    await passesUntil(() => rejoined(second), "the replaced node in the swarm, once", bed.nodes);
    expect(await swarmState(second)).toBe("active");
    expect(await nodeLs()).toHaveLength(3);
  }, 180_000);

  it("a lost node the program takes out of the group is removed from the swarm", async () => {
    await bed.kill(third);
    await agents.get(leader.name)?.channel.put(membershipKey("web"), membership(5, [leader, second]));
    await passesUntil(formed([leader.name, second.name]), "the lost node removed", [leader, second]);
  }, 180_000);
});

/** The membership text now in the channel. */
async function program2Text(): Promise<string> {
  return (await agents.get(leader.name)?.channel.get(membershipKey("web"))) ?? "";
}
