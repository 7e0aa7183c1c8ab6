import { describe, expect, it } from "vitest";
import type { Membership } from "../../contract/swarm/membership";
import { NODE_ROW_FORMAT, parseNodeRows, planMembers, type SwarmNodeRow } from "./members";

const key = "A".repeat(43);
const membership = (members: [string, "manager" | "worker"][], generation = 2): Membership => ({
  domain: "berth/swarm-membership/v1",
  group: "web",
  generation,
  issuedAt: "2026-12-06T00:00:00.000Z",
  expiresAt: "2027-01-06T00:00:00.000Z",
  leader: "web-1",
  leaderAddress: "10.0.0.1",
  members: members.map(([nodeId, role]) => ({ nodeId, role, publicKey: key, statusKey: key })),
});
const row = (id: string, hostname: string, status = "Ready", managerStatus = ""): SwarmNodeRow => ({
  id,
  hostname,
  status,
  managerStatus,
});
const three = membership([
  ["web-1", "manager"],
  ["web-2", "worker"],
  ["web-3", "worker"],
]);

describe("planMembers", () => {
  it("a new swarm: offers for every member but the leader, the leader labelled", () => {
    expect(planMembers([row("a", "web-1", "Ready", "Leader")], three, "a")).toEqual({
      label: [{ swarmId: "a", nodeId: "web-1" }],
      offers: ["web-2", "web-3"],
      promote: [],
      demote: [],
      remove: [],
    });
  });

  it("a formed swarm: every member labelled, nothing else", () => {
    const rows = [row("a", "web-1", "Ready", "Leader"), row("b", "web-2"), row("c", "web-3")];
    const p = planMembers(rows, three, "a");
    expect(p.label.map((l) => l.nodeId)).toEqual(["web-1", "web-2", "web-3"]);
    expect([...p.offers, ...p.promote, ...p.demote, ...p.remove]).toEqual([]);
  });

  it("a replaced node: an offer while only its old engine is there (down); once the new one joined, the old one removed", () => {
    const before = [row("a", "web-1", "Ready", "Leader"), row("b", "web-2"), row("c", "web-3", "Down")];
    expect(planMembers(before, three, "a")).toMatchObject({ offers: ["web-3"], remove: [] });
    const after = [...before, row("d", "web-3")];
    const p = planMembers(after, three, "a");
    expect(p.offers).toEqual([]);
    expect(p.label).toContainEqual({ swarmId: "d", nodeId: "web-3" });
    expect(p.remove).toEqual([
      {
        swarmId: "c",
        hostname: "web-3",
        manager: false,
        why: "web-3 was replaced: this engine is down and a new one has joined",
      },
    ]);
  });

  it("a member that is down with no successor stays (it may come back)", () => {
    const rows = [row("a", "web-1", "Ready", "Leader"), row("b", "web-2", "Down"), row("c", "web-3")];
    expect(planMembers(rows, three, "a")).toMatchObject({ offers: ["web-2"], remove: [] });
  });

  it("a node taken out of the group is removed, a manager demoted first; never the leader itself", () => {
    const two = membership([
      ["web-1", "manager"],
      ["web-3", "worker"],
    ]);
    const rows = [
      row("a", "web-1", "Ready", "Leader"),
      row("b", "web-2", "Ready", "Reachable"),
      row("c", "web-3"),
    ];
    expect(planMembers(rows, two, "a").remove).toEqual([
      {
        swarmId: "b",
        hostname: "web-2",
        manager: true,
        why: "web-2 is not a member of node group web (generation 2)",
      },
    ]);
    expect(planMembers([row("a", "stranger", "Ready", "Leader")], two, "a").remove).toEqual([]);
  });

  it("roles follow the membership: promote and demote", () => {
    const m = membership([
      ["web-1", "manager"],
      ["web-2", "manager"],
      ["web-3", "manager"],
    ]);
    const rows = [
      row("a", "web-1", "Ready", "Leader"),
      row("b", "web-2"),
      row("c", "web-3", "Ready", "Reachable"),
    ];
    expect(planMembers(rows, m, "a")).toMatchObject({ promote: ["b"], demote: [] });
    expect(planMembers(rows, three, "a")).toMatchObject({ promote: [], demote: ["c"] });
  });

  it("reads docker node ls in its tab-separated format", () => {
    expect(NODE_ROW_FORMAT.split("\t")).toHaveLength(4);
    expect(parseNodeRows("a\tweb-1\tReady\tLeader\nb\tweb-2\tDown\t\n\n")).toEqual([
      row("a", "web-1", "Ready", "Leader"),
      row("b", "web-2", "Down", ""),
    ]);
  });
});
