import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FolderChannelStore } from "../../contract/channel/folder-store";
import { channelKeys } from "../../contract/channel/layout";
import { generateSigningKeyPair } from "../../contract/payload";
import { type AgentStatus, signAgentStatus } from "../../contract/trust";
import { formatAgentStatus, readAgentStatus } from "./agent-status";

const status: AgentStatus = {
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
};

describe("the agent's status in berth status", () => {
  it("names the version, the trust generation and keys, a refused trust set, the last upgrade and the signature", () => {
    const text = formatAgentStatus({
      ok: true,
      status,
      detail: "verified with ed25519:cccc (given with --status-key)",
    });
    expect(text).toBe(
      [
        "  agent 0.2.0 (updated 2026-12-06T08:00:00.000Z): trust generation 2, release keys ed25519:bbbb, revoked ed25519:aaaa",
        "    trust set REFUSED at 2026-12-06T08:01:00.000Z: STALE_GENERATION: …",
        "    last agent upgrade: rolled-back 0.2.0 → 0.3.0 at 2026-12-06T08:02:00.000Z: agent 0.3.0 exited before it reported; back on 0.2.0",
        "    agent status signature: verified with ed25519:cccc (given with --status-key)",
      ].join("\n"),
    );
  });

  it("says whether a workspace node pulls lazily, and why not (its first boot's stargz install)", async () => {
    const line = (lazyPull: AgentStatus["lazyPull"]) =>
      formatAgentStatus({ ok: true, status: { ...status, lazyPull }, detail: "d" })
        .split("\n")
        .find((l) => l.includes("lazy pulling"));
    expect(line(undefined)).toBeUndefined();
    expect(line({ lazyPull: "on", build: "1a557120857234ff", arch: "arm64" })).toBe(
      "    lazy pulling on: stargz tools build 1a557120857234ff (arm64)",
    );
    const reason =
      "agent/stargz/manifest.json (build 1a557120857234ff) is not signed by a release key this node trusts (signed by ed25519:ffff)";
    expect(line({ lazyPull: "off", reason, arch: "amd64" })).toBe(
      `    lazy pulling OFF (workspace images pull in full): ${reason}`,
    );
    // Signed with the rest of the status, so it round-trips through the channel.
    const channel = new FolderChannelStore(mkdtempSync(join(tmpdir(), "berth-agent-status-")));
    const node = generateSigningKeyPair();
    await channel.put(
      channelKeys.agentStatus("web-1"),
      signAgentStatus({ ...status, lazyPull: { lazyPull: "off", reason } }, node.privateKey),
    );
    const read = await readAgentStatus(channel, "web-1", { key: node.publicKey, whose: "w" });
    expect(read).toMatchObject({ ok: true, status: { lazyPull: { lazyPull: "off", reason } } });
  });

  it("reads it only when it verifies: a forged or unsigned one is ignored, with the reason", async () => {
    const channel = new FolderChannelStore(mkdtempSync(join(tmpdir(), "berth-agent-status-")));
    const node = generateSigningKeyPair();
    const k = { key: node.publicKey, whose: "given with --status-key" };
    const key = channelKeys.agentStatus("web-1");
    expect(await readAgentStatus(channel, "web-1", k)).toBeUndefined();
    await channel.put(key, signAgentStatus(status, node.privateKey));
    expect(await readAgentStatus(channel, "web-1", k)).toMatchObject({ ok: true, status });
    await channel.put(key, JSON.stringify({ ...status, agentVersion: "9.9.9" }));
    const unsigned = await readAgentStatus(channel, "web-1", k);
    expect(unsigned).toEqual({
      ok: false,
      detail:
        "the agent's status is not signed (no status envelope: written by an agent that predates signed statuses, or by someone else) (key: given with --status-key)",
    });
    expect(formatAgentStatus(unsigned as NonNullable<typeof unsigned>)).toMatch(
      /^ {2}agent: NOT VERIFIED, ignored: status\/agent\/state\.json: the agent's status is not signed/,
    );
    expect(formatAgentStatus(unsigned as NonNullable<typeof unsigned>)).not.toContain("9.9.9");
    await channel.put(key, signAgentStatus(status, generateSigningKeyPair().privateKey));
    expect(await readAgentStatus(channel, "web-1", k)).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/not by the node's pinned status key/),
    });
  });
});
