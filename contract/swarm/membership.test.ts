import { describe, expect, it } from "vitest";
import { generateNodeKeyPair, generateSigningKeyPair, TrustedKeys } from "../payload";
import { MembershipError, membershipKey, signMembership, verifyMembership } from "./membership";

const program = generateSigningKeyPair();
const trusted = new TrustedKeys([program.publicKey]);
const member = (nodeId: string, role: "manager" | "worker") => ({
  nodeId,
  role,
  publicKey: generateNodeKeyPair().publicKey,
  statusKey: generateSigningKeyPair().publicKey,
});
const base = {
  group: "web",
  generation: 2,
  issuedAt: "2026-12-06T11:00:00.000Z",
  expiresAt: "2027-01-06T11:00:00.000Z",
  leader: "web-1",
  leaderAddress: "10.0.0.2",
  members: [member("web-1", "manager"), member("web-2", "worker"), member("web-3", "worker")],
};
const now = new Date("2026-12-06T12:00:00Z");
const why = (text: string, o: { nodeId?: string; floor?: number; now?: Date } = {}) => {
  try {
    verifyMembership(text, {
      group: "web",
      nodeId: o.nodeId ?? "web-2",
      trusted,
      now: o.now ?? now,
      ...(o.floor ? { floor: o.floor } : {}),
    });
  } catch (e) {
    expect(e).toBeInstanceOf(MembershipError);
    return (e as Error).message;
  }
  throw new Error("expected a refusal");
};

describe("swarm membership", () => {
  it("is signed by the program and read by a member", () => {
    const text = signMembership(base, program.privateKey);
    expect(verifyMembership(text, { group: "web", nodeId: "web-2", trusted, now })).toMatchObject({
      leader: "web-1",
      generation: 2,
    });
    expect(membershipKey("web")).toBe("swarm/web/membership.json");
  });

  it("refuses a writer's membership, an added member, a non-member, an old or expired one", () => {
    const writer = generateSigningKeyPair();
    expect(why(signMembership(base, writer.privateKey))).toMatch(/which this node does not trust/);
    const added = JSON.parse(signMembership(base, program.privateKey));
    added.membership.members.push(member("evil", "worker"));
    expect(why(JSON.stringify(added))).toMatch(/the signature does not verify/);
    expect(why(signMembership(base, program.privateKey), { nodeId: "web-9" })).toMatch(
      /node web-9 is not a member/,
    );
    expect(why(signMembership(base, program.privateKey), { floor: 3 })).toMatch(/generation 2 is below 3/);
    expect(why(signMembership(base, program.privateKey), { now: new Date("2027-02-01T00:00:00Z") })).toMatch(
      /expired/,
    );
  });

  it("the program cannot sign 2 managers or a worker as leader", () => {
    expect(() =>
      signMembership(
        { ...base, members: [member("web-1", "manager"), member("web-2", "manager")] },
        program.privateKey,
      ),
    ).toThrow(/1 or 3 managers/);
    expect(() => signMembership({ ...base, leader: "web-2" }, program.privateKey)).toThrow(
      /the leader must be a manager/,
    );
  });
});
