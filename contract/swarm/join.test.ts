import { describe, expect, it } from "vitest";
import { generateNodeKeyPair, generateSigningKeyPair } from "../payload";
import { JoinOfferError, joinOfferKey, makeJoinOffer, openJoinOffer } from "./join";

const leader = generateSigningKeyPair();
const node2 = generateNodeKeyPair();
const node3 = generateNodeKeyPair();
const TOKEN = "SWMTKN-1-0123456789abcdefghijklmnopqrstuvwxyz-worker";
const now = new Date("2026-12-06T11:00:00Z");
const offer = (patch: Partial<Parameters<typeof makeJoinOffer>[0]> = {}) =>
  makeJoinOffer({
    group: "web",
    nodeId: "web-2",
    role: "worker",
    generation: 3,
    managers: ["10.0.0.1:2377"],
    token: TOKEN,
    nodePublicKey: node2.publicKey,
    leaderStatusKey: leader.privateKey,
    now,
    ...patch,
  });
const expectFor = {
  group: "web",
  nodeId: "web-2",
  leaderStatusKey: leader.publicKey,
  nodePrivateKey: node2.privateKey,
  now,
};
const refusal = (text: string, e: Partial<typeof expectFor> & { floor?: number } = {}) => {
  try {
    openJoinOffer(text, { ...expectFor, ...e });
  } catch (err) {
    expect(err).toBeInstanceOf(JoinOfferError);
    expect((err as Error).message).not.toContain(TOKEN);
    return (err as Error).message;
  }
  throw new Error("expected the offer to be refused");
};

describe("join offers", () => {
  it("carry the token sealed to the node and signed by the leader; the node opens it", () => {
    const text = offer();
    expect(text).not.toContain(TOKEN);
    expect(text).not.toContain("SWMTKN");
    expect(openJoinOffer(text, expectFor)).toEqual({
      role: "worker",
      generation: 3,
      managers: ["10.0.0.1:2377"],
      token: TOKEN,
    });
    expect(joinOfferKey("web", "web-2")).toBe("swarm/web/join/web-2.json");
    expect(() => joinOfferKey("web", "../x")).toThrow();
  });

  it("refuse an offer a channel writer signed with another key", () => {
    const writer = generateSigningKeyPair();
    expect(refusal(offer({ leaderStatusKey: writer.privateKey }))).toMatch(
      /^join offer for web-2 in group web: signed by ed25519:[0-9a-f]{32}, not by the leader's key/,
    );
    // The leader's key id with the writer's signature.
    const forged = JSON.parse(offer({ leaderStatusKey: writer.privateKey }));
    forged.keyId = JSON.parse(offer()).keyId;
    expect(refusal(JSON.stringify(forged))).toMatch(/the signature does not verify with the leader's key/);
  });

  it("refuse a changed offer: another manager address, another role", () => {
    const changed = JSON.parse(offer());
    changed.offer.managers = ["203.0.113.9:2377"];
    expect(refusal(JSON.stringify(changed))).toMatch(/the signature does not verify/);
  });

  it("do not open on another node, nor when copied to another node's key", () => {
    expect(refusal(offer(), { nodeId: "web-3", nodePrivateKey: node3.privateKey })).toMatch(
      /the offer is for web-2 in group web/,
    );
    expect(refusal(offer({ nodePublicKey: node3.publicKey }))).toMatch(/cannot be opened/);
  });

  it("refuse an expired offer, one below the node's floor, junk and huge objects", () => {
    expect(refusal(offer(), { now: new Date("2027-01-01T00:00:00Z") })).toMatch(/expired at/);
    expect(refusal(offer(), { floor: 4 })).toMatch(/generation 3 is below 4/);
    expect(refusal("{}")).toMatch(/not a signed join offer/);
    expect(refusal("x".repeat(70 * 1024))).toMatch(/larger than 65536 bytes/);
  });
});
