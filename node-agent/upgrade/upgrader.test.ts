// The upgrade steps without Docker: a folder channel, bundles that are tiny scripts printing their
// version, the record on disk. The whole handover with the real agent is
// test/system/agent-upgrade.test.ts.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FolderChannelStore } from "../../contract/channel/folder-store";
import { agentConfigSchema } from "../../contract/node/agent-config";
import { AGENT_NODE_FLAGS } from "../../contract/node/agent-process";
import { generateSigningKeyPair, TrustedKeys } from "../../contract/payload";
import { manifestKeyOf, signAgentBundle } from "../../contract/trust";
import { createLogger } from "../../lib/log";
import { alive } from "../../lib/pid";
import { handoverCommands, restartMode } from "./handover";
import { readRecord, writeAgentPid } from "./record";
import { Upgrader } from "./upgrader";
import { watchTrial } from "./watchdog";

const key = generateSigningKeyPair();
const log = createLogger("upgrade-test");
log.level = "silent";
const script = (version: string) =>
  `if (process.argv[2] === "version") console.log(${JSON.stringify(version)});\n`;

function node(running = "0.1.0") {
  const dir = mkdtempSync(join(tmpdir(), "berth-upgrade-"));
  const channel = new FolderChannelStore(join(dir, "channel"));
  const config = agentConfigSchema.parse({
    nodeId: "n1",
    stateRoot: join(dir, "state"),
    channel: { kind: "folder", path: join(dir, "channel") },
    trustedKeys: [key.publicKey],
    upgrade: { reportWithinSeconds: 1 },
  });
  const bundlePath = join(dir, "berth-agent.js");
  writeFileSync(bundlePath, script(running));
  const upgrader = (version = running) =>
    new Upgrader({
      config,
      channel,
      trusted: new TrustedKeys([key.publicKey]),
      log,
      runningVersion: version,
      bundlePath,
    });
  // What the program's AgentBundle publishes: the bundle, then its signed manifest.
  const offer = async (text: string, version: string, signer = key.privateKey) => {
    const k = "agent/berth-agent.js";
    await channel.put(k, text);
    const manifest = signAgentBundle(Buffer.from(text, "utf8"), { version, key: k, signingKey: signer });
    await channel.put(manifestKeyOf(k), JSON.stringify(manifest));
  };
  return { dir, config, bundlePath, upgrader, offer };
}

describe("Upgrader", () => {
  it("installs a newer signed bundle: swapped in, the old one kept, a trial on record", async () => {
    const n = node();
    await n.offer(script("0.2.0"), "0.2.0");
    const staged = await n.upgrader().check();
    expect(staged).toMatchObject({ version: "0.2.0", from: "0.1.0", bundlePath: n.bundlePath });
    expect(readFileSync(n.bundlePath, "utf8")).toBe(script("0.2.0"));
    expect(readFileSync(`${n.bundlePath}.prev`, "utf8")).toBe(script("0.1.0"));
    expect(readRecord(n.config.stateRoot)).toMatchObject({ state: "trial", version: "0.2.0", from: "0.1.0" });
    // The new agent confirms once; the old one cannot.
    expect(n.upgrader("0.1.0").confirm()).toBe(false);
    expect(n.upgrader("0.2.0").confirm()).toBe(true);
    expect(readRecord(n.config.stateRoot)).toMatchObject({ state: "installed", highestVersion: "0.2.0" });
    // Seen again by the new agent: its own version, nothing to do.
    expect(await n.upgrader("0.2.0").check()).toBeUndefined();
  });

  it("refuses older, untrusted, altered and unloadable bundles, and swaps nothing", async () => {
    const cases: [string, string, string | undefined, RegExp][] = [
      [script("0.0.9"), "0.0.9", undefined, /^NOT_NEWER/],
      [script("0.3.0"), "0.3.0", generateSigningKeyPair().privateKey, /^BAD_BUNDLE: the manifest/],
      ["syntax ) error\n", "0.3.0", undefined, /it does not start/],
      [script("0.2.9"), "0.3.0", undefined, /it says it is "0.2.9", its manifest 0.3.0/],
    ];
    for (const [text, version, signer, reason] of cases) {
      const n = node();
      await n.offer(text, version, signer);
      expect(await n.upgrader().check()).toBeUndefined();
      expect(readRecord(n.config.stateRoot)?.state).toBe("refused");
      expect(readRecord(n.config.stateRoot)?.reason).toMatch(reason);
      expect(readFileSync(n.bundlePath, "utf8")).toBe(script("0.1.0"));
    }
  });

  it("a bundle altered in the channel after signing is refused", async () => {
    const n = node();
    await n.offer(script("0.2.0"), "0.2.0");
    writeFileSync(
      join(n.dir, "channel", "agent", "berth-agent.js"),
      script("0.2.0").replace("console", "void console"),
    );
    expect(await n.upgrader().check()).toBeUndefined();
    expect(readRecord(n.config.stateRoot)?.reason).toMatch(/does not match its signed manifest/);
  });
});

describe("the watchdog", () => {
  it("puts the previous bundle back and stops the new agent when it does not report in time", async () => {
    const n = node();
    await n.offer(script("0.2.0"), "0.2.0");
    await n.upgrader().check();
    const stuck = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
    writeAgentPid(n.config.stateRoot, stuck.pid as number);
    // The signed status goes out with the verdict, once the new agent can no longer write its own.
    const reported: { state?: string; newAgentAlive: boolean }[] = [];
    const r = await watchTrial({
      stateRoot: n.config.stateRoot,
      configFile: "unused",
      mode: "systemd",
      log,
      pollMs: 50,
      report: async () =>
        reported.push({ state: readRecord(n.config.stateRoot)?.state, newAgentAlive: alive(stuck.pid) }),
    });
    expect(r.outcome).toBe("rolled-back");
    expect(reported).toEqual([{ state: "rolled-back", newAgentAlive: false }]);
    expect(r.reason).toMatch(/agent 0\.2\.0 did not report within 1 s; back on 0\.1\.0/);
    expect(readFileSync(n.bundlePath, "utf8")).toBe(script("0.1.0"));
    expect(existsSync(`${n.bundlePath}.prev`)).toBe(false);
    for (let i = 0; i < 50 && alive(stuck.pid); i++) await new Promise((res) => setTimeout(res, 100));
    expect(alive(stuck.pid)).toBe(false);
    const rec = readRecord(n.config.stateRoot);
    expect(rec?.state).toBe("rolled-back");
    // Not tried again.
    expect(await n.upgrader().check()).toBeUndefined();
  });

  it("leaves an upgrade the new agent confirmed alone", async () => {
    const n = node();
    await n.offer(script("0.2.0"), "0.2.0");
    await n.upgrader().check();
    expect(n.upgrader("0.2.0").confirm()).toBe(true);
    const r = await watchTrial({
      stateRoot: n.config.stateRoot,
      configFile: "unused",
      mode: "systemd",
      log,
      pollMs: 50,
    });
    expect(r.outcome).toBe("none");
    expect(readFileSync(n.bundlePath, "utf8")).toBe(script("0.2.0"));
  });
});

describe("handover", () => {
  it("restarts through systemd when systemd runs the agent, else starts the new agent itself", () => {
    expect(restartMode("auto", { INVOCATION_ID: "abc" })).toBe("systemd");
    expect(restartMode("auto", {})).toBe("exec");
    expect(restartMode("exec", { INVOCATION_ID: "abc" })).toBe("exec");
    const cmds = handoverCommands(
      {
        version: "0.2.0",
        from: "0.1.0",
        bundlePath: "/b/a.js",
        previousBundle: "/b/a.js.prev",
        deadline: new Date(),
      },
      "/etc/berth/agent.json",
    );
    // The watchdog runs the old bundle; the agent the new one at the same path.
    expect(cmds.watchdog).toEqual(["/b/a.js.prev", "upgrade-watch", "--config", "/etc/berth/agent.json"]);
    // With the flags every node runs its agent with (contract/node/agent-process.ts).
    expect(cmds.agent).toEqual([...AGENT_NODE_FLAGS, "/b/a.js", "run", "--config", "/etc/berth/agent.json"]);
  });
});
