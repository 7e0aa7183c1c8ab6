// The AgentRollout's wait against a real folder channel: statuses signed by the node's status key
// are believed, anything else is ignored and named; a refused or rolled-back bundle fails with
// the node's reason. (Through `pulumi up` of the local stack: test/system/node-protocol.test.ts.)
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FolderChannelStore } from "../../contract/channel/folder-store";
import { channelKeys } from "../../contract/channel/layout";
import { generateSigningKeyPair } from "../../contract/payload";
import { type AgentStatus, signAgentStatus } from "../../contract/trust";
import { type AgentRolloutOutputs, diff, read, waitForAgent } from "./agent-rollout";

const node = generateSigningKeyPair();
const NODE = "n1";
const SHA = "a".repeat(64);

function status(o: Partial<AgentStatus> = {}): AgentStatus {
  return {
    formatVersion: 1,
    nodeId: NODE,
    agentVersion: "0.1.0",
    updatedAt: new Date().toISOString(),
    trust: { generation: 0, releaseKeyIds: [], rootKeyIds: [], revoked: [] },
    ...o,
  };
}

function channel() {
  return new FolderChannelStore(mkdtempSync(join(tmpdir(), "berth-rollout-")));
}

const want = { nodeId: NODE, statusKey: node.publicKey, version: "0.2.0", bundleSha256: SHA };

describe("waitForAgent", () => {
  it("returns once the node's signed status names the version, not while the new agent is on trial", async () => {
    const c = channel();
    const key = channelKeys.agentStatus(NODE);
    await c.put(key, signAgentStatus(status(), node.privateKey));
    const trial = { state: "trial" as const, version: "0.2.0", from: "0.1.0", at: "t", sha256: SHA };
    setTimeout(
      () =>
        void c.put(key, signAgentStatus(status({ agentVersion: "0.2.0", upgrade: trial }), node.privateKey)),
      100,
    );
    setTimeout(
      () =>
        void c.put(
          key,
          signAgentStatus(
            status({ agentVersion: "0.2.0", upgrade: { ...trial, state: "installed" } }),
            node.privateKey,
          ),
        ),
      400,
    );
    const started = Date.now();
    const st = await waitForAgent(c, { ...want, timeoutSeconds: 10 }, 50);
    expect(st.upgrade?.state).toBe("installed");
    expect(Date.now() - started).toBeGreaterThanOrEqual(350);
  });

  it("fails with the node's reason when it rolled the bundle back, naming the node and what to do", async () => {
    const c = channel();
    await c.put(
      channelKeys.agentStatus(NODE),
      signAgentStatus(
        status({
          upgrade: {
            state: "rolled-back",
            version: "0.2.0",
            from: "0.1.0",
            at: "t",
            sha256: SHA,
            reason: "agent 0.2.0 did not report within 3 s; it said: broken on purpose; back on 0.1.0",
          },
        }),
        node.privateKey,
      ),
    );
    await expect(waitForAgent(c, { ...want, timeoutSeconds: 10 }, 50)).rejects.toThrow(
      /^node n1 rolled back the upgrade to agent 0\.2\.0 and runs agent 0\.1\.0 again: agent 0\.2\.0 did not report within 3 s; it said: broken on purpose; back on 0\.1\.0\. .*higher version.*pulumi up/,
    );
  });

  it("a rollback of another bundle of the same version (another SHA-256) is not this one's", async () => {
    const c = channel();
    const old = {
      state: "rolled-back" as const,
      version: "0.2.0",
      from: "0.1.0",
      at: "t",
      sha256: "b".repeat(64),
    };
    await c.put(channelKeys.agentStatus(NODE), signAgentStatus(status({ upgrade: old }), node.privateKey));
    await expect(waitForAgent(c, { ...want, timeoutSeconds: 0.3 }, 50)).rejects.toThrow(
      /did not run agent 0\.2\.0 within 0\.3 s \(its signed status says agent 0\.1\.0.*last upgrade: rolled-back 0\.2\.0/,
    );
  });

  it("a rolled-back new agent that writes one status of its own version before it is stopped is no success", async () => {
    const c = channel();
    await c.put(
      channelKeys.agentStatus(NODE),
      signAgentStatus(
        status({
          agentVersion: "0.2.0",
          upgrade: {
            state: "rolled-back",
            version: "0.2.0",
            from: "0.1.0",
            at: "t",
            sha256: SHA,
            reason: "agent 0.2.0 did not report within 40 s; back on 0.1.0",
          },
        }),
        node.privateKey,
      ),
    );
    await expect(waitForAgent(c, { ...want, timeoutSeconds: 10 }, 50)).rejects.toThrow(
      /node n1 rolled back the upgrade to agent 0\.2\.0 .*did not report within 40 s/,
    );
  });

  it("a refused bundle (a downgrade) fails with the node's reason", async () => {
    const c = channel();
    const refused = {
      state: "refused" as const,
      version: "0.2.0",
      from: "0.3.0",
      at: "t",
      sha256: SHA,
      reason: "DOWNGRADE: never a downgrade",
    };
    await c.put(
      channelKeys.agentStatus(NODE),
      signAgentStatus(status({ agentVersion: "0.3.0", upgrade: refused }), node.privateKey),
    );
    await expect(waitForAgent(c, { ...want, timeoutSeconds: 10 }, 50)).rejects.toThrow(
      /node n1 refused agent 0\.2\.0 and runs agent 0\.3\.0: DOWNGRADE: never a downgrade/,
    );
  });

  it("never believes a status that does not verify: a forgery claiming the version is ignored and named", async () => {
    const c = channel();
    const forger = generateSigningKeyPair();
    await c.put(
      channelKeys.agentStatus(NODE),
      signAgentStatus(status({ agentVersion: "0.2.0" }), forger.privateKey),
    );
    await expect(waitForAgent(c, { ...want, timeoutSeconds: 0.3 }, 50)).rejects.toThrow(
      /did not run agent 0\.2\.0 within 0\.3 s \(no signed agent status yet.*\); an agent status that does not verify against the node's pinned status key was ignored/,
    );
    // Unsigned: the same.
    await c.put(channelKeys.agentStatus(NODE), JSON.stringify(status({ agentVersion: "0.2.0" })));
    await expect(waitForAgent(c, { ...want, timeoutSeconds: 0.3 }, 50)).rejects.toThrow(/was ignored/);
  });
});

describe("diff", () => {
  const base = {
    berthKind: "agent-rollout" as const,
    berthProviderVersion: "1",
    channel: { kind: "folder" as const, path: "/c" },
    ...want,
    timeoutSeconds: 45,
  };
  it("changes with the bundle or the node's key, not with the bound or the channel's credentials", async () => {
    const olds = { ...base, agentVersion: "0.2.0", waitedSeconds: 1 };
    expect((await diff("i", olds, { ...base, timeoutSeconds: 90 })).changes).toBe(false);
    expect((await diff("i", olds, { ...base, bundleSha256: "c".repeat(64) })).changes).toBe(true);
    expect((await diff("i", olds, { ...base, version: "0.3.0" })).changes).toBe(true);
    expect((await diff("i", olds, { ...base, statusKey: generateSigningKeyPair().publicKey })).changes).toBe(
      true,
    );
  });
});

describe("read (pulumi refresh)", () => {
  function outputs(path: string, agentVersion = "0.2.0"): AgentRolloutOutputs {
    return {
      berthKind: "agent-rollout",
      berthProviderVersion: "1",
      channel: { kind: "folder", path },
      ...want,
      timeoutSeconds: 45,
      agentVersion,
      waitedSeconds: 1,
    };
  }
  const dir = () => mkdtempSync(join(tmpdir(), "berth-rollout-read-"));

  it("takes the agent version from the node's verified status; the next diff shows the drift", async () => {
    const path = dir();
    await new FolderChannelStore(path).put(
      channelKeys.agentStatus(NODE),
      signAgentStatus(status({ agentVersion: "0.1.0" }), node.privateKey),
    );
    const r = await read("n1@agent", outputs(path));
    expect(r.props?.agentVersion).toBe("0.1.0");
    const next = await diff("n1@agent", r.props as AgentRolloutOutputs, {
      ...outputs(path),
      timeoutSeconds: 45,
    });
    expect(next.changes).toBe(true);
  });

  it("a node that runs the version reads as no change", async () => {
    const path = dir();
    await new FolderChannelStore(path).put(
      channelKeys.agentStatus(NODE),
      signAgentStatus(status({ agentVersion: "0.2.0" }), node.privateKey),
    );
    const r = await read("n1@agent", outputs(path));
    expect(r.props).toEqual(outputs(path));
    expect((await diff("n1@agent", r.props as AgentRolloutOutputs, outputs(path))).changes).toBe(false);
  });

  it("ignores a status signed by another key, an unsigned one, one about another node, and none", async () => {
    const path = dir();
    const c = new FolderChannelStore(path);
    const key = channelKeys.agentStatus(NODE);
    const forger = generateSigningKeyPair();
    // A node that lost its agent: what the refresh keeps is what the node last signed (0.2.0).
    for (const text of [
      signAgentStatus(status({ agentVersion: "0.1.0" }), forger.privateKey),
      JSON.stringify(status({ agentVersion: "0.1.0" })),
      signAgentStatus(status({ nodeId: "n2", agentVersion: "0.1.0" }), node.privateKey),
      "{ not json",
    ]) {
      await c.put(key, text);
      expect((await read("n1@agent", outputs(path))).props?.agentVersion).toBe("0.2.0");
    }
    expect((await read("n1@agent", outputs(dir()))).props?.agentVersion).toBe("0.2.0");
  });
});
