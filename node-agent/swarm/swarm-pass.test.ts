// The agent's swarm pass against a folder channel and a recording Docker runner (the real engines:
// test/system/swarm-agents.test.ts): which memberships it believes, the floor it keeps, what the
// leader and a member run.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FolderChannelStore } from "../../contract/channel/folder-store";
import { generateNodeKeyPair, generateSigningKeyPair, TrustedKeys } from "../../contract/payload";
import { joinOfferKey, openJoinOffer } from "../../contract/swarm/join";
import { membershipKey, signMembership } from "../../contract/swarm/membership";
import { createLogger } from "../../lib/log";
import { recordingRunner } from "../testing/recording-runner";
import { SwarmPass } from "./swarm-pass";

const program = generateSigningKeyPair();
const keys = Object.fromEntries(
  ["web-1", "web-2"].map((id) => [id, { node: generateNodeKeyPair(), status: generateSigningKeyPair() }]),
) as Record<
  string,
  { node: ReturnType<typeof generateNodeKeyPair>; status: ReturnType<typeof generateSigningKeyPair> }
>;
const log = createLogger("swarm-pass-test");
log.level = "silent";

function membership(generation: number, signer = program.privateKey): string {
  const members = ["web-1", "web-2"];
  return signMembership(
    {
      group: "web",
      generation,
      issuedAt: new Date().toISOString(),
      expiresAt: new Date(Date.now() + 3600_000).toISOString(),
      leader: "web-1",
      leaderAddress: "10.9.0.1",
      members: members.map((id, i) => ({
        nodeId: id,
        role: i === 0 ? ("manager" as const) : ("worker" as const),
        publicKey: keys[id]?.node.publicKey ?? generateNodeKeyPair().publicKey,
        statusKey: keys[id]?.status.publicKey ?? generateSigningKeyPair().publicKey,
        address: `10.9.0.${i + 1}`,
      })),
    },
    signer,
  );
}

function setup(nodeId: "web-1" | "web-2", swarm: { state: string; rows?: string }) {
  const dir = mkdtempSync(join(tmpdir(), "berth-swarm-pass-"));
  const channel = new FolderChannelStore(join(dir, "channel"));
  const docker = recordingRunner((argv) => {
    if (argv[1] === "info")
      return { stdout: JSON.stringify({ LocalNodeState: swarm.state, NodeID: "self" }) };
    if (argv[1] === "node" && argv[2] === "ls")
      return { stdout: swarm.rows ?? "self\tweb-1\tReady\tLeader\n" };
    if (argv[1] === "swarm" && argv[2] === "join-token") return { stdout: `SWMTKN-1-${argv[4]}-secret\n` };
    return undefined;
  });
  const me = keys[nodeId] as (typeof keys)[string];
  const pass = new SwarmPass({
    nodeId,
    channel,
    docker: docker.run,
    trusted: new TrustedKeys([program.publicKey]),
    nodePrivateKey: me.node.privateKey,
    statusPrivateKey: me.status.privateKey,
    stateRoot: join(dir, "state"),
    log,
  });
  return { channel, docker, pass };
}

describe("SwarmPass", () => {
  it("the leader initialises the swarm, labels itself and seals an offer to the member's pinned key", async () => {
    const { channel, docker, pass } = setup("web-1", { state: "inactive" });
    await channel.put(membershipKey("web"), membership(1));
    expect(await pass.run()).toEqual([
      { group: "web", outcome: "led", detail: "generation 1; waiting for web-2" },
    ]);
    expect(docker.lines()).toContain(
      "docker swarm init --advertise-addr 10.9.0.1 --listen-addr 10.9.0.1:2377",
    );
    const offer = openJoinOffer((await channel.get(joinOfferKey("web", "web-2"))) ?? "", {
      group: "web",
      nodeId: "web-2",
      leaderStatusKey: keys["web-1"]?.status.publicKey ?? "",
      nodePrivateKey: keys["web-2"]?.node.privateKey ?? "",
    });
    expect(offer).toMatchObject({ role: "worker", generation: 1, token: "SWMTKN-1-worker-secret" });
    // The next pass writes no offer again: the channel holds it as written.
    const puts = docker.lines().filter((l) => l.includes("join-token")).length;
    await pass.run();
    expect(docker.lines().filter((l) => l.includes("join-token")).length).toBe(puts);
    expect(pass.floors()).toEqual({ web: 1 });
  });

  it("a member joins through its offer with its own address, the token redacted", async () => {
    const leader = setup("web-1", { state: "inactive" });
    await leader.channel.put(membershipKey("web"), membership(1));
    await leader.pass.run();
    const member = setup("web-2", { state: "inactive" });
    for (const k of [membershipKey("web"), joinOfferKey("web", "web-2")])
      await member.channel.put(k, (await leader.channel.get(k)) ?? "");
    expect(await member.pass.run()).toEqual([
      { group: "web", outcome: "joined", detail: "as a worker, generation 1" },
    ]);
    const join = member.docker.calls.find((c) => c.argv[2] === "join");
    expect(join?.argv).toEqual(expect.arrayContaining(["--advertise-addr", "10.9.0.2", "10.9.0.1:2377"]));
    expect(join?.opts.redact).toEqual(["SWMTKN-1-worker-secret"]);
  });

  it("refuses a membership another key signed, and a replayed older one; skips a group that does not list it", async () => {
    const { channel, docker, pass } = setup("web-1", { state: "active" });
    const writer = generateSigningKeyPair();
    await channel.put(membershipKey("web"), membership(9, writer.privateKey));
    expect(await pass.run()).toEqual([
      { group: "web", outcome: "refused", detail: expect.stringMatching(/which this node does not trust$/) },
    ]);
    expect(docker.calls).toEqual([]);
    await channel.put(membershipKey("web"), membership(3));
    await pass.run();
    await channel.put(membershipKey("web"), membership(2));
    expect(await pass.run()).toEqual([
      { group: "web", outcome: "refused", detail: expect.stringMatching(/generation 2 is below 3/) },
    ]);
    expect(pass.floors()).toEqual({ web: 3 });
    const stranger = {
      publicKey: generateNodeKeyPair().publicKey,
      statusKey: generateSigningKeyPair().publicKey,
    };
    await channel.put(
      membershipKey("other"),
      signMembership(
        {
          group: "other",
          generation: 1,
          issuedAt: new Date().toISOString(),
          expiresAt: new Date(Date.now() + 3600_000).toISOString(),
          leader: "web-9",
          leaderAddress: "10.9.0.9",
          members: [{ nodeId: "web-9", role: "manager", ...stranger }],
        },
        program.privateKey,
      ),
    );
    expect((await pass.run()).map((s) => s.group)).toEqual(["web"]);
  });
});
