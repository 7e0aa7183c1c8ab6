// Whether a node took the published agent bundle (from its verified status), and how long
// `pulumi up` waits for it.
import { describe, expect, it } from "vitest";
import { ROLLOUT_MARGIN_SECONDS, rolloutBoundSeconds, rolloutOutcome } from "./agent-rollout";
import type { AgentStatus } from "./agent-status";

const want = { version: "0.3.0", sha256: "a".repeat(64) };
const status = (o: Partial<AgentStatus>): AgentStatus => ({
  formatVersion: 1,
  nodeId: "n1",
  agentVersion: "0.2.0",
  updatedAt: "t",
  trust: { generation: 0, releaseKeyIds: [], rootKeyIds: [], revoked: [] },
  ...o,
});
const upgrade = (state: NonNullable<AgentStatus["upgrade"]>["state"], sha256 = want.sha256) => ({
  state,
  version: "0.3.0",
  from: "0.2.0",
  at: "t",
  sha256,
});

describe("rolloutOutcome", () => {
  it("running once the node runs the version and is not on trial", () => {
    expect(rolloutOutcome(status({ agentVersion: "0.3.0", upgrade: upgrade("installed") }), want)).toEqual({
      state: "running",
    });
    expect(rolloutOutcome(status({ agentVersion: "0.3.0", upgrade: upgrade("trial") }), want).state).toBe(
      "pending",
    );
  });

  it("failed when the node rolled this bundle back, even in a status the dying new agent wrote", () => {
    for (const agentVersion of ["0.2.0", "0.3.0"])
      expect(rolloutOutcome(status({ agentVersion, upgrade: upgrade("rolled-back") }), want).state).toBe(
        "failed",
      );
    // Another bundle of the same version (another SHA-256) rolled back: not this one's verdict.
    expect(rolloutOutcome(status({ upgrade: upgrade("rolled-back", "b".repeat(64)) }), want).state).toBe(
      "pending",
    );
  });
});

describe("rolloutBoundSeconds", () => {
  it("is the release bound, never shorter than the node's trial and the margin", () => {
    expect(rolloutBoundSeconds(300, 120)).toBe(300);
    expect(rolloutBoundSeconds(45, 120)).toBe(120 + ROLLOUT_MARGIN_SECONDS);
    expect(rolloutBoundSeconds(45, 40)).toBe(70);
  });
});
