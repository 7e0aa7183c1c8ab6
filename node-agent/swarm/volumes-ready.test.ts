// The leader's wait for the holders of a release's volumes (volumes-ready.ts), against a folder
// channel; the real agents and engines: test/system/swarm-volumes.test.ts.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FolderChannelStore } from "../../contract/channel/folder-store";
import { channelKeys } from "../../contract/channel/layout";
import { signStatus } from "../../contract/channel/status-signature";
import { generateSigningKeyPair } from "../../contract/payload";
import { type HeldVolume, verifyVolumeOrder, volumeOrderKey } from "../../contract/swarm/volumes";
import { awaitHeldVolumes, type VolumesReadyDeps } from "./volumes-ready";

const leaderStatus = generateSigningKeyPair();
const web2Status = generateSigningKeyPair();
const volumes: HeldVolume[] = [{ name: "data", node: "web-2", disk: "/dev/disk/by-id/scsi-0HC_Volume_7" }];

function setup(o: Partial<VolumesReadyDeps> = {}) {
  const channel = new FolderChannelStore(
    join(mkdtempSync(join(tmpdir(), "berth-volumes-ready-")), "channel"),
  );
  const said: string[] = [];
  const d: VolumesReadyDeps = {
    nodeId: "web-1",
    channel,
    statusPrivateKey: leaderStatus.privateKey,
    ledGroup: () => ({
      group: "web",
      members: [
        { nodeId: "web-1", statusKey: leaderStatus.publicKey },
        { nodeId: "web-2", statusKey: web2Status.publicKey },
      ],
    }),
    prepareOwn: async (_env, sequence) => ({ sequence, ready: [] }),
    timeoutMs: 500,
    pollMs: 50,
    waiting: async (detail) => {
      said.push(detail);
    },
    readyPlacements: new Map(),
    ...o,
  };
  return { channel, d, said };
}

/** web-2's status of shop, signed with `key`, saying `sequence`'s volumes are ready. */
function word(sequence: number, key = web2Status.privateKey, ready = ["data"]): string {
  return signStatus(
    {
      formatVersion: 1,
      nodeId: "web-2",
      environmentId: "shop",
      appliedSequence: sequence,
      state: "applied",
      services: [],
      heldVolumes: { sequence, ready },
      updatedAt: new Date().toISOString(),
    },
    key,
  );
}

const release = (sequence: number) => ({ environmentId: "shop", sequence, volumes });

describe("the leader waits for the holders of a release's volumes", () => {
  it("writes the signed order, says which holder it waits for, and deploys once the holder's signed word names the release", async () => {
    const { channel, d, said } = setup({ timeoutMs: 20_000 });
    const waited = awaitHeldVolumes(d, release(3));
    for (let i = 0; i < 100 && said.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(said[0]).toBe(
      "release 3 waits for the holders of its volumes before it deploys: web-2 has not said its volumes are ready",
    );
    const order = verifyVolumeOrder((await channel.get(volumeOrderKey("web", "shop"))) as string, {
      group: "web",
      environmentId: "shop",
      leaderStatusKey: leaderStatus.publicKey,
    });
    expect(order).toMatchObject({ sequence: 3, volumes });
    await channel.put(channelKeys.status("web-2", "shop"), word(3));
    expect(await waited).toBeUndefined();
    // The same placement again: no wait.
    expect(await awaitHeldVolumes({ ...d, timeoutMs: 1 }, release(4))).toBeUndefined();
  });

  it("on a first deploy, waits until the holder that made its volumes ready is in the swarm, running the swarm pass meanwhile", async () => {
    let joined = false;
    let upkeep = 0;
    const { channel, d, said } = setup({
      timeoutMs: 20_000,
      inSwarm: async (holder) => holder === "web-2" && joined,
      upkeep: async () => {
        upkeep += 1;
        if (upkeep === 3) joined = true;
      },
    });
    await channel.put(channelKeys.status("web-2", "shop"), word(3));
    expect(await awaitHeldVolumes(d, release(3))).toBeUndefined();
    expect(said).toEqual([
      "release 3 waits for the holders of its volumes before it deploys: web-2 made its volumes ready but is not in the swarm yet (no ready node labelled as it)",
    ]);
    expect(upkeep).toBe(3);
  });

  it("a channel writer's word (signed with its own key) does not count: nothing deployed at the bound", async () => {
    const { channel, d } = setup();
    await channel.put(channelKeys.status("web-2", "shop"), word(3, generateSigningKeyPair().privateKey));
    const why = await awaitHeldVolumes(d, release(3));
    expect(why).toMatch(/^the holders of its volumes were not ready within 1 s, so nothing was deployed: /);
    expect(why).toContain(
      "web-2 has not said its volumes are ready (a status that does not verify was ignored",
    );
    expect(d.readyPlacements.size).toBe(0);
  });

  it("a holder's word on an older release, replayed, does not count", async () => {
    const { channel, d } = setup();
    await channel.put(channelKeys.status("web-2", "shop"), word(2));
    expect(await awaitHeldVolumes(d, release(3))).toContain(
      "web-2 has not yet read release 3's volume order (its word is for release 2)",
    );
  });

  it("a holder the membership does not list is named", async () => {
    const { d } = setup();
    expect(
      await awaitHeldVolumes(d, {
        environmentId: "shop",
        sequence: 3,
        volumes: [{ name: "data", node: "web-9" }],
      }),
    ).toContain("web-9 holds data but is no member of node group web");
  });

  it("the leader's own volumes it makes ready itself; its problem is the reason", async () => {
    const own: HeldVolume[] = [{ name: "data", node: "web-1", disk: "/dev/sdq" }];
    let calls = 0;
    const { d } = setup({
      prepareOwn: async (_env, sequence) => {
        calls += 1;
        return calls < 3
          ? { sequence, ready: [], problem: "data: volume disk /dev/sdq did not appear within 3 s" }
          : { sequence, ready: ["data"] };
      },
      timeoutMs: 20_000,
    });
    expect(await awaitHeldVolumes(d, { environmentId: "shop", sequence: 3, volumes: own })).toBeUndefined();
    expect(calls).toBe(3);
    const failing = setup({
      prepareOwn: async (_env, sequence) => ({ sequence, ready: [], problem: "data: not attached" }),
    });
    expect(await awaitHeldVolumes(failing.d, { environmentId: "shop", sequence: 3, volumes: own })).toContain(
      "web-1 (this node): data: not attached",
    );
  });

  it("without a membership that makes it the leader, it deploys nothing", async () => {
    const { d } = setup({ ledGroup: () => undefined });
    expect(await awaitHeldVolumes(d, release(3))).toContain("this node leads no node group");
  });
});
