// A holder's restore request and the leader's hold (contract/swarm/restore-hold.ts).
import { describe, expect, it } from "vitest";
import { generateSigningKeyPair } from "../payload";
import {
  MAX_REQUEST_MS,
  RestoreHoldError,
  restoreHoldKey,
  restoreRequestKey,
  signRestoreHold,
  signRestoreRequest,
  verifyRestoreHold,
  verifyRestoreRequest,
} from "./restore-hold";

const holder = generateSigningKeyPair();
const leader = generateSigningKeyPair();
const ID = "0123456789abcdef0123456789abcdef";
const expectRequest = { group: "web", environmentId: "shop", nodeId: "web-2", statusKey: holder.publicKey };

describe("restore requests", () => {
  it("verify against the holder's pinned key, for its group, environment and node, while in date", () => {
    const text = signRestoreRequest(
      { group: "web", environmentId: "shop", nodeId: "web-2", id: ID, state: "stop" },
      holder.privateKey,
    );
    expect(verifyRestoreRequest(text, expectRequest)).toMatchObject({ id: ID, state: "stop" });
    expect(restoreRequestKey("web-2", "shop")).toBe("nodes/web-2/status/swarm-restore/shop.json");
    expect(() => verifyRestoreRequest(text, { ...expectRequest, nodeId: "web-3" })).toThrow(
      /the request is web-2's of shop in group web/,
    );
    expect(() =>
      verifyRestoreRequest(text, { ...expectRequest, now: new Date(Date.now() + MAX_REQUEST_MS + 1000) }),
    ).toThrow(/expired at/);
  });

  it("a channel writer's request (its own key) is refused", () => {
    const text = signRestoreRequest(
      { group: "web", environmentId: "shop", nodeId: "web-2", id: ID, state: "stop" },
      generateSigningKeyPair().privateKey,
    );
    expect(() => verifyRestoreRequest(text, expectRequest)).toThrow(RestoreHoldError);
  });
});

describe("restore holds", () => {
  const hold = signRestoreHold(
    {
      group: "web",
      environmentId: "shop",
      sequence: 3,
      node: "web-2",
      request: ID,
      services: ["store"],
      stopped: true,
    },
    leader.privateKey,
  );
  const expectHold = {
    group: "web",
    environmentId: "shop",
    leaderStatusKey: leader.publicKey,
    node: "web-2",
    request: ID,
  };

  it("answer one request of one holder, signed by the leader", () => {
    expect(verifyRestoreHold(hold, expectHold)).toMatchObject({ stopped: true, services: ["store"] });
    expect(restoreHoldKey("web", "shop")).toBe("swarm/web/holds/shop.json");
    expect(() => verifyRestoreHold(hold, { ...expectHold, request: "f".repeat(32) })).toThrow(
      /it answers request 0123456789abcdef0123456789abcdef of web-2/,
    );
    expect(() => verifyRestoreHold(hold, { ...expectHold, leaderStatusKey: holder.publicKey })).toThrow(
      /not by the leader's key/,
    );
  });
});
