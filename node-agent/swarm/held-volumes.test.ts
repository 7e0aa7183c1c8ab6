// A holder's side of the volume orders (held-volumes.ts) with a recording Docker runner and a
// recording disk mounter; real disks, engines and agents: test/system/swarm-volumes.test.ts.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FolderChannelStore } from "../../contract/channel/folder-store";
import { generateSigningKeyPair } from "../../contract/payload";
import { signVolumeOrder, volumeOrderKey } from "../../contract/swarm/volumes";
import { recordingRunner } from "../testing/recording-runner";
import { boundDevice, HeldVolumes, type HeldVolumesWord, prepareHeldVolume } from "./held-volumes";

const leaderStatus = generateSigningKeyPair();
const DISK = "/dev/disk/by-id/scsi-0HC_Volume_7";

function holder(answer: Parameters<typeof recordingRunner>[0] = () => undefined) {
  const root = mkdtempSync(join(tmpdir(), "berth-held-volumes-"));
  const docker = recordingRunner(answer);
  const mounts: string[] = [];
  const words: [string, HeldVolumesWord][] = [];
  const h = new HeldVolumes({
    nodeId: "web-2",
    stateRoot: join(root, "state"),
    volumeRoot: join(root, "volumes"),
    docker: docker.run,
    mountDisk: async (disk, mountPoint) => {
      mounts.push(`${disk} ${mountPoint}`);
    },
    report: async (env, word) => {
      words.push([env, word]);
    },
  });
  return { root, docker, mounts, words, h, channel: new FolderChannelStore(join(root, "channel")) };
}

const missing = (argv: string[]) =>
  argv[1] === "volume" && argv[2] === "inspect" ? { exitCode: 1, stderr: "no such volume" } : undefined;

describe("a volume's holder", () => {
  it("mounts the volume's disk at its folder and binds the Docker volume to its data/", async () => {
    const t = holder(missing);
    await prepareHeldVolume(
      {
        volumeRoot: join(t.root, "volumes"),
        docker: t.docker.run,
        mountDisk: async (d, m) => void t.mounts.push(`${d} ${m}`),
      },
      "shop",
      { name: "data", node: "web-2", disk: DISK },
    );
    const folder = join(t.root, "volumes", "berth-env-shop", "volumes", "data");
    expect(t.mounts).toEqual([`${DISK} ${folder}`]);
    expect(t.docker.lines()[1]).toBe(
      `docker volume create --driver local --opt type=none --opt o=bind --opt device=${folder}/data --label berth.environment=shop berth_shop_data`,
    );
  });

  it("refuses a Docker volume of that name made on the engine's own disk, saying what to do", async () => {
    const t = holder((argv) => (argv.includes("{{json .Options}}") ? { stdout: "null\n" } : undefined));
    await expect(
      prepareHeldVolume(
        { volumeRoot: join(t.root, "volumes"), docker: t.docker.run, mountDisk: async () => undefined },
        "shop",
        { name: "data", node: "web-2", disk: DISK },
      ),
    ).rejects.toThrow(
      /already exists on this node's engine on the engine's own disk, not on the volume's disk .*remove the Docker volume/,
    );
  });

  it("reads which folder a volume is bound to", () => {
    expect(boundDevice('{"device":"/mnt/x/data","o":"bind","type":"none"}')).toBe("/mnt/x/data");
    expect(boundDevice("null")).toBeUndefined();
    expect(boundDevice('{"type":"nfs","o":"addr=1.2.3.4","device":":/x"}')).toBeUndefined();
  });

  it("acts on the leader's order, reports its word for that release, and not again for the same order", async () => {
    const t = holder(missing);
    await t.channel.put(
      volumeOrderKey("web", "shop"),
      signVolumeOrder(
        {
          group: "web",
          environmentId: "shop",
          sequence: 3,
          volumes: [
            { name: "data", node: "web-2", disk: DISK },
            { name: "cache", node: "web-1" },
          ],
        },
        leaderStatus.privateKey,
      ),
    );
    const steps = await t.h.refresh(t.channel, { group: "web", leaderStatusKey: leaderStatus.publicKey });
    expect(steps.map((s) => s.outcome)).toEqual(["ready"]);
    expect(t.words).toEqual([["shop", { sequence: 3, ready: ["data"] }]]);
    expect(t.h.environments()).toEqual(["shop"]);
    expect(await t.h.refresh(t.channel, { group: "web", leaderStatusKey: leaderStatus.publicKey })).toEqual(
      [],
    );
  });

  it("a channel writer's order is refused: no disk mounted, no volume made, no word", async () => {
    const t = holder(missing);
    await t.channel.put(
      volumeOrderKey("web", "shop"),
      signVolumeOrder(
        {
          group: "web",
          environmentId: "shop",
          sequence: 9,
          volumes: [{ name: "data", node: "web-2", disk: "/dev/sdz" }],
        },
        generateSigningKeyPair().privateKey,
      ),
    );
    const steps = await t.h.refresh(t.channel, { group: "web", leaderStatusKey: leaderStatus.publicKey });
    expect(steps[0]?.outcome).toBe("refused");
    expect(t.mounts).toEqual([]);
    expect(t.docker.lines()).toEqual([]);
    expect(t.words).toEqual([]);
  });

  it("a disk that does not appear is reported as the problem, and tried again next pass", async () => {
    let attached = false;
    const t = holder(missing);
    const h = new HeldVolumes({
      nodeId: "web-2",
      stateRoot: join(t.root, "state2"),
      volumeRoot: join(t.root, "volumes"),
      docker: t.docker.run,
      mountDisk: async (disk) => {
        if (!attached) throw new Error(`volume disk ${disk} did not appear within 3 s`);
      },
      report: async (env, word) => void t.words.push([env, word]),
    });
    await t.channel.put(
      volumeOrderKey("web", "shop"),
      signVolumeOrder(
        {
          group: "web",
          environmentId: "shop",
          sequence: 3,
          volumes: [{ name: "data", node: "web-2", disk: DISK }],
        },
        leaderStatus.privateKey,
      ),
    );
    const first = await h.refresh(t.channel, { group: "web", leaderStatusKey: leaderStatus.publicKey });
    expect(first[0]?.outcome).toBe("not-ready");
    expect(t.words[0]).toEqual([
      "shop",
      { sequence: 3, ready: [], problem: `data: volume disk ${DISK} did not appear within 3 s` },
    ]);
    attached = true;
    const second = await h.refresh(t.channel, { group: "web", leaderStatusKey: leaderStatus.publicKey });
    expect(second[0]?.outcome).toBe("ready");
    expect(t.words[1]).toEqual(["shop", { sequence: 3, ready: ["data"] }]);
  });
});
