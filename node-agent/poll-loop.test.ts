// The poll loop's decisions against a real folder channel: what it converges, tears down and
// reports, with the converger and the status recorded.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FolderChannelStore } from "../contract/channel/folder-store";
import { channelKeys } from "../contract/channel/layout";
import { withdrawEnvironment } from "../contract/channel/publish";
import { generateSigningKeyPair, TrustedKeys } from "../contract/payload";
import { createLogger } from "../lib/log";
import { PollLoop } from "./poll-loop";

const NODE = "node-1";
const key = generateSigningKeyPair();

function setup(local: string[] = ["shop"], floor = 3) {
  const channel = new FolderChannelStore(mkdtempSync(join(tmpdir(), "berth-poll-")));
  const log = createLogger("poll-test");
  log.level = "silent";
  const calls: string[] = [];
  const anomalies = new Map<string, string[]>();
  const floors = new Map<string, number>([["shop", floor]]);
  const loop = new PollLoop({
    nodeId: NODE,
    channel,
    log,
    converge: async (env, seq) => void calls.push(`converge ${env} ${seq}`),
    teardown: async (env) => void calls.push(`teardown ${env}`),
    environments: () => local,
    trusted: new TrustedKeys([key.publicKey]),
    floorOf: (env) => floors.get(env) ?? 0,
    raiseFloor: (env, seq) => void floors.set(env, seq),
    reportAnomalies: async (env, a) => void anomalies.set(env, a),
    backupTick: async () => {},
    pollIntervalSeconds: 1,
    pollJitter: 0,
  });
  const point = (env: string, seq: number) =>
    channel.put(channelKeys.desired(NODE, env), JSON.stringify({ sequence: seq }));
  return { channel, loop, calls, anomalies, floors, point };
}

describe("PollLoop", () => {
  it("converges what desired.json points at", async () => {
    const t = setup();
    await t.point("shop", 3);
    await t.loop.pollOnce();
    expect(t.calls).toEqual(["converge shop 3"]);
    expect(t.anomalies.get("shop")).toEqual([]);
  });

  it("a missing desired.json tears nothing down: an anomaly is reported", async () => {
    const t = setup();
    await t.loop.pollOnce();
    expect(t.calls).toEqual([]);
    expect(t.anomalies.get("shop")).toEqual([
      "desired.json is missing from the channel: the environment keeps running (only a signed withdrawal tears it down)",
    ]);
  });

  it("tears down on a signed withdrawal above the floor, once, and raises the floor", async () => {
    const t = setup();
    await t.point("shop", 3);
    await withdrawEnvironment(t.channel, {
      nodeId: NODE,
      environmentId: "shop",
      sequence: 4,
      signingKey: key.privateKey,
    });
    await t.loop.pollOnce();
    expect(t.calls).toEqual(["teardown shop"]);
    expect(t.floors.get("shop")).toBe(4);
  });

  it("ignores a withdrawal signed by another key, or one that is not above the floor, and says so", async () => {
    const t = setup();
    await t.point("shop", 3);
    await withdrawEnvironment(t.channel, {
      nodeId: NODE,
      environmentId: "shop",
      sequence: 9,
      signingKey: generateSigningKeyPair().privateKey,
    });
    await t.point("shop", 3); // the writer keeps desired.json
    await t.loop.pollOnce();
    expect(t.calls).toEqual(["converge shop 3"]);
    expect(t.anomalies.get("shop")?.[0]).toMatch(
      /^withdrawal.json is not acted on: signed by key .* which is not trusted/,
    );
    const r = setup(["shop"], 5);
    await withdrawEnvironment(r.channel, {
      nodeId: NODE,
      environmentId: "shop",
      sequence: 4,
      signingKey: key.privateKey,
    });
    await r.loop.pollOnce();
    expect(r.calls).toEqual([]);
    expect(r.anomalies.get("shop")).toEqual([
      "withdrawal.json (sequence 4) is not above the last sequence this node accepted (5): a replayed withdrawal, ignored",
    ]);
  });

  it("a release published after a withdrawal (the environment created again) is converged", async () => {
    const t = setup([], 4);
    await withdrawEnvironment(t.channel, {
      nodeId: NODE,
      environmentId: "shop",
      sequence: 4,
      signingKey: key.privateKey,
    });
    await t.point("shop", 5);
    await t.loop.pollOnce();
    expect(t.calls).toEqual(["converge shop 5"]);
  });
});
