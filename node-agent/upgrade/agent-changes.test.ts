// The agent's own status carries a cloud workspace node's lazy-pulling outcome (the first boot's
// stargz installer writes it: components/deployment-node/stargz-installer.ts), signed with the
// rest; an unreadable outcome is reported as off, with the reason.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FolderChannelStore } from "../../contract/channel/folder-store";
import { channelKeys } from "../../contract/channel/layout";
import { parseAgentConfig } from "../../contract/node/agent-config";
import { generateSigningKeyPair } from "../../contract/payload";
import { verifyAgentStatus } from "../../contract/trust";
import { createLogger } from "../../lib/log";
import { AgentChanges } from "./agent-changes";

function agent(outcome: string | undefined) {
  const dir = mkdtempSync(join(tmpdir(), "berth-agent-changes-"));
  const channel = new FolderChannelStore(join(dir, "channel"));
  const config = parseAgentConfig(
    JSON.stringify({
      nodeId: "ws-1",
      stateRoot: join(dir, "state"),
      volumeRoot: join(dir, "volumes"),
      channel: { kind: "folder", path: join(dir, "channel") },
      trustedKeys: [generateSigningKeyPair().publicKey],
      proxy: { bind: "127.0.0.1:8080" },
      workspaces: {},
    }),
    "agent.json",
  );
  const file = join(dir, "lazy-pull.json");
  if (outcome !== undefined) writeFileSync(file, outcome);
  const key = generateSigningKeyPair();
  const changes = new AgentChanges({
    config,
    channel,
    log: createLogger("test"),
    statusPrivateKey: key.privateKey,
    lazyPullFile: file,
  });
  return {
    changes,
    read: async () => {
      await changes.report();
      const text = (await channel.get(channelKeys.agentStatus("ws-1"))) ?? "";
      const r = verifyAgentStatus(text, { statusKey: key.publicKey, nodeId: "ws-1" });
      if (!r.ok) throw new Error(r.reason);
      return r.status;
    },
  };
}

describe("the agent's status and lazy pulling", () => {
  it("reports the installer's outcome, signed", async () => {
    const off = { lazyPull: "off", reason: "could not fetch agent/stargz/manifest.json", arch: "amd64" };
    expect((await agent(JSON.stringify(off)).read()).lazyPull).toEqual(off);
    const on = { lazyPull: "on", build: "1a557120857234ff", arch: "arm64" };
    expect((await agent(JSON.stringify(on)).read()).lazyPull).toEqual(on);
  });

  it("says nothing without an outcome (a deployment or local node), and off for an unreadable one", async () => {
    expect((await agent(undefined).read()).lazyPull).toBeUndefined();
    const bad = (await agent("{not json").read()).lazyPull;
    expect(bad?.lazyPull).toBe("off");
    expect(bad?.reason).toMatch(/lazy-pull\.json is unreadable/);
  });
});
