import { describe, expect, it } from "vitest";
import { formatAgentStatus } from "./agent-status";

describe("the agent's status in berth status", () => {
  it("names the version, the trust generation and keys, a refused trust set and the last upgrade", () => {
    const text = formatAgentStatus({
      formatVersion: 1,
      nodeId: "web-1",
      agentVersion: "0.2.0",
      updatedAt: "2026-12-06T08:00:00.000Z",
      trust: {
        generation: 2,
        releaseKeyIds: ["ed25519:bbbb"],
        rootKeyIds: ["ed25519:rrrr"],
        revoked: ["ed25519:aaaa"],
        refused: { at: "2026-12-06T08:01:00.000Z", reason: "STALE_GENERATION: …" },
      },
      upgrade: {
        state: "rolled-back",
        version: "0.3.0",
        from: "0.2.0",
        at: "2026-12-06T08:02:00.000Z",
        reason: "agent 0.3.0 exited before it reported; back on 0.2.0",
      },
    });
    expect(text).toBe(
      [
        "  agent 0.2.0 (updated 2026-12-06T08:00:00.000Z): trust generation 2, release keys ed25519:bbbb, revoked ed25519:aaaa",
        "    trust set REFUSED at 2026-12-06T08:01:00.000Z: STALE_GENERATION: …",
        "    last agent upgrade: rolled-back 0.2.0 → 0.3.0 at 2026-12-06T08:02:00.000Z: agent 0.3.0 exited before it reported; back on 0.2.0",
        "    (unsigned: status/agent/state.json as the channel holds it; whoever writes the channel can change it)",
      ].join("\n"),
    );
  });
});
