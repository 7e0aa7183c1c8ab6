import { describe, expect, it } from "vitest";
import { signStatus } from "../channel/status-signature";
import { generateSigningKeyPair } from "../payload";
import { type AgentStatus, signAgentStatus, verifyAgentStatus } from "./agent-status";

const node = generateSigningKeyPair();
const status: AgentStatus = {
  formatVersion: 1,
  nodeId: "node-a",
  agentVersion: "0.2.0",
  updatedAt: "2026-12-06T08:00:00.000Z",
  trust: { generation: 2, releaseKeyIds: ["ed25519:bbbb"], rootKeyIds: [], revoked: [] },
};
const expectAs = { statusKey: node.publicKey, nodeId: "node-a" };

describe("the agent's signed status", () => {
  it("verifies against the node's status key", () => {
    expect(verifyAgentStatus(signAgentStatus(status, node.privateKey), expectAs)).toEqual({
      ok: true,
      status,
    });
  });
  it("refuses an unsigned one (what a channel writer can always write), keeping its claim apart", () => {
    const r = verifyAgentStatus(JSON.stringify({ ...status, agentVersion: "9.9.9" }), expectAs);
    expect(r).toMatchObject({
      ok: false,
      reason: expect.stringContaining("the agent's status is not signed"),
    });
    if (!r.ok) expect(r.claimed?.agentVersion).toBe("9.9.9");
  });
  it("refuses one signed by another key", () => {
    const other = generateSigningKeyPair();
    expect(verifyAgentStatus(signAgentStatus(status, other.privateKey), expectAs)).toMatchObject({
      ok: false,
      reason: expect.stringContaining(`signed by ${other.keyId}, not by the node's pinned status key`),
    });
  });
  it("refuses a changed one, another node's, and an environment's status passed off as it", () => {
    const text = signAgentStatus(status, node.privateKey).replace('"0.2.0"', '"9.9.9"');
    expect(verifyAgentStatus(text, expectAs)).toMatchObject({
      ok: false,
      reason: expect.stringContaining("signature does not verify"),
    });
    expect(
      verifyAgentStatus(signAgentStatus(status, node.privateKey), { ...expectAs, nodeId: "node-b" }),
    ).toMatchObject({ ok: false, reason: expect.stringContaining("about node node-a, not node-b") });
    // Same key, same envelope, another domain: a status's signature never passes as the agent's.
    const env = signStatus(
      {
        formatVersion: 1,
        nodeId: "node-a",
        environmentId: "demo",
        state: "applied",
        services: [],
        updatedAt: "2026-12-06T08:00:00.000Z",
      },
      node.privateKey,
    );
    const swapped = JSON.stringify({ ...JSON.parse(env), status });
    expect(verifyAgentStatus(swapped, expectAs)).toMatchObject({
      ok: false,
      reason: expect.stringContaining("signature does not verify"),
    });
  });
});
