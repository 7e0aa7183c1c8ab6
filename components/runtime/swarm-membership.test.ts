// The SwarmMembership provider's logic against a folder channel: what it publishes is what a
// member's agent accepts; each change takes the next generation, above a membership this key
// signed in the channel (a forged one does not count); a membership near its expiry is a change.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FolderChannelStore } from "../../contract/channel/folder-store";
import { generateNodeKeyPair, generateSigningKeyPair, TrustedKeys } from "../../contract/payload";
import { membershipKey, signMembership, verifyMembership } from "../../contract/swarm/membership";
import {
  check,
  create,
  diff,
  remove,
  type SwarmMembershipInputs,
  type SwarmMembershipOutputs,
  update,
} from "./swarm-membership";

const program = generateSigningKeyPair();
const other = generateSigningKeyPair();
const dir = mkdtempSync(join(tmpdir(), "berth-membership-"));
const member = (nodeId: string, role: "manager" | "worker", address: string) => ({
  nodeId,
  role,
  publicKey: generateNodeKeyPair().publicKey,
  statusKey: generateSigningKeyPair().publicKey,
  address,
});
const members = [
  member("web-1", "manager", "203.0.113.10"),
  member("web-2", "worker", "203.0.113.11"),
  member("web-3", "worker", "203.0.113.12"),
];
const inputs = (o: Partial<SwarmMembershipInputs> = {}): SwarmMembershipInputs => ({
  berthKind: "swarm-membership",
  berthProviderVersion: "1",
  channel: { kind: "folder", path: join(dir, "ch") },
  signingKey: program.privateKey,
  group: "web",
  leader: "web-1",
  leaderAddress: "203.0.113.10",
  members,
  validityDays: 60,
  renewBeforeDays: 20,
  ...o,
});
const store = new FolderChannelStore(join(dir, "ch"));
const read = async (nodeId = "web-2") =>
  verifyMembership((await store.get(membershipKey("web"))) ?? "", {
    group: "web",
    nodeId,
    trusted: new TrustedKeys([program.publicKey]),
  });

describe("SwarmMembership provider", () => {
  it("check refuses a group a node would refuse (2 managers), naming the group", async () => {
    expect((await check({}, inputs())).failures).toEqual([]);
    const two = members.map((m) => (m.nodeId === "web-2" ? { ...m, role: "manager" as const } : m));
    const r = await check({}, inputs({ members: two }));
    expect(r.failures?.[0]?.reason).toMatch(/^berth:nodeGroups: web: .*1 or 3 managers/);
  });

  it("publishes a membership every member verifies; changes take the next generation", async () => {
    const created = (await create(inputs())) as { id: string; outs: SwarmMembershipOutputs };
    expect(created.id).toBe("swarm/web");
    expect(created.outs.generation).toBe(1);
    const m = await read("web-3");
    expect(m).toMatchObject({ generation: 1, leader: "web-1", leaderAddress: "203.0.113.10" });
    expect(m.members.map((x) => x.address)).toEqual(["203.0.113.10", "203.0.113.11", "203.0.113.12"]);

    // A replaced node: new keys, a change, the next generation.
    const replaced = members.map((x) =>
      x.nodeId === "web-3" ? member("web-3", "worker", "203.0.113.99") : x,
    );
    const news = inputs({ members: replaced });
    expect((await diff("swarm/web", created.outs, news)).changes).toBe(true);
    expect((await diff("swarm/web", created.outs, inputs())).changes).toBe(false);
    const updated = await update("swarm/web", created.outs, news);
    expect(updated.outs?.generation).toBe(2);
    expect((await read()).members.find((x) => x.nodeId === "web-3")?.address).toBe("203.0.113.99");
  });

  it("counts a membership this key signed in the channel, not one another key signed", async () => {
    const base = {
      group: "web",
      issuedAt: new Date().toISOString(),
      expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
      leader: "web-1",
      leaderAddress: "203.0.113.10",
      members,
    };
    await store.put(membershipKey("web"), signMembership({ ...base, generation: 40 }, other.privateKey));
    expect(((await create(inputs())).outs as SwarmMembershipOutputs).generation).toBe(1);
    await store.put(membershipKey("web"), signMembership({ ...base, generation: 7 }, program.privateKey));
    expect(((await create(inputs())).outs as SwarmMembershipOutputs).generation).toBe(8);
  });

  it("a membership near its expiry is a change; delete takes it out of the channel", async () => {
    const outs = (await create(inputs())).outs as SwarmMembershipOutputs;
    const soon = { ...outs, expiresAt: new Date(Date.now() + 5 * 86_400_000).toISOString() };
    expect((await diff("swarm/web", soon, inputs())).changes).toBe(true);
    await remove("swarm/web", outs);
    expect(await store.get(membershipKey("web"))).toBeUndefined();
  });
});
