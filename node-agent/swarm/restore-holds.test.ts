// The leader's holds for holders' restores (restore-holds.ts) against a folder channel and a
// recording Docker runner; the real engines and agents: test/system/swarm-backup.test.ts.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FolderChannelStore } from "../../contract/channel/folder-store";
import { generateSigningKeyPair } from "../../contract/payload";
import {
  restoreHoldKey,
  restoreRequestKey,
  signRestoreRequest,
  verifyRestoreHold,
} from "../../contract/swarm/restore-hold";
import { recordingRunner } from "../testing/recording-runner";
import { type LedPins, RestoreHolds } from "./restore-holds";

const leader = generateSigningKeyPair();
const web2 = generateSigningKeyPair();
const ID = "0123456789abcdef0123456789abcdef";
const led: LedPins[] = [
  {
    environmentId: "shop",
    sequence: 3,
    stack: "berth-shop",
    pins: [{ service: "store", node: "web-2" }],
    replicas: { store: 1, web: 3 },
  },
];

function setup() {
  const root = mkdtempSync(join(tmpdir(), "berth-restore-holds-"));
  const channel = new FolderChannelStore(join(root, "channel"));
  const docker = recordingRunner();
  const keep = (holds = new RestoreHolds(join(root, "state"))) =>
    holds.keep(channel, docker.run, {
      group: "web",
      statusPrivateKey: leader.privateKey,
      members: [{ nodeId: "web-2", statusKey: web2.publicKey }],
      led,
    });
  const request = (state: "stop" | "done", id = ID, key = web2.privateKey) =>
    channel.put(
      restoreRequestKey("web-2", "shop"),
      signRestoreRequest({ group: "web", environmentId: "shop", nodeId: "web-2", id, state }, key),
    );
  const hold = async (id = ID) =>
    verifyRestoreHold((await channel.get(restoreHoldKey("web", "shop"))) as string, {
      group: "web",
      environmentId: "shop",
      leaderStatusKey: leader.publicKey,
      node: "web-2",
      request: id,
    });
  return { root, channel, docker, keep, request, hold };
}

describe("the leader's holds for a holder's restore", () => {
  it("stops the services pinned to the holder for its request, and starts them again at its done", async () => {
    const t = setup();
    await t.request("stop");
    expect((await t.keep()).map((s) => s.outcome)).toEqual(["stopped"]);
    expect(t.docker.lines()).toEqual(["docker service scale --detach=false berth-shop_store=0"]);
    expect(await t.hold()).toMatchObject({ stopped: true, services: ["store"] });
    // Held: nothing more until the done.
    expect(await t.keep()).toEqual([]);
    await t.request("done");
    expect((await t.keep()).map((s) => s.outcome)).toEqual(["resumed"]);
    expect(t.docker.lines()[1]).toBe("docker service scale --detach=false berth-shop_store=1");
    expect(await t.hold()).toMatchObject({ stopped: false });
  });

  it("attack: a channel writer's stop request is refused; nothing is scaled", async () => {
    const t = setup();
    await t.request("stop", ID, generateSigningKeyPair().privateKey);
    const steps = await t.keep();
    expect(steps[0]).toMatchObject({ outcome: "refused" });
    expect(steps[0]?.detail).toMatch(/restore request of shop from web-2: .*key/);
    expect(t.docker.lines()).toEqual([]);
    expect(await t.channel.get(restoreHoldKey("web", "shop"))).toBeUndefined();
  });

  it("attack: a finished request's stop, replayed, is refused, also by a leader restarted", async () => {
    const t = setup();
    await t.request("stop");
    await t.keep();
    const stop = (await t.channel.get(restoreRequestKey("web-2", "shop"))) as string;
    await t.request("done");
    await t.keep();
    await t.channel.put(restoreRequestKey("web-2", "shop"), stop);
    const steps = await t.keep(new RestoreHolds(join(t.root, "state")));
    expect(steps).toEqual([
      expect.objectContaining({
        outcome: "refused",
        detail: `restore request ${ID} of web-2 was acted on already (a replay)`,
      }),
    ]);
    expect(t.docker.lines()).toHaveLength(2);
  });
});
