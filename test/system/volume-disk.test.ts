// Cloud volumes on the node for real: loop devices stand in for attached volumes (a symlink
// plays /dev/disk/by-id/...). A blank disk is formatted ext4 once, recorded in fstab by UUID with
// nofail, and mounted at the volume's folder; a disk with data is never formatted; anything else
// is refused with its reason. Then the agent applies a release whose store volume lives on one.
import { execFileSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../lib/log";
import { run } from "../../lib/process";
import { DiskError, type DiskOptions, ensureDiskMounted } from "../../node-agent/disks/mount";
import { mountedSource } from "../../node-agent/disks/plan";
import { AgentHarness, appManifest } from "./support/agent-harness";
import { testAppImage } from "./support/test-app-image";

const root = mkdtempSync(join(tmpdir(), "berth-disk-"));
const byId = join(root, "by-id");
const loops: string[] = [];
const mountPoints: string[] = [];
const log = createLogger("disk-test");
log.level = "warn";
const opts: DiskOptions = { fstabPath: join(root, "fstab"), deviceTimeoutMs: 1_500, log };

/** A loop device over a sparse file, with a by-id style symlink to it. */
async function attach(name: string, sizeMb = 64): Promise<{ disk: string; device: string }> {
  const file = join(root, `${name}.img`);
  execFileSync("truncate", ["-s", `${sizeMb}M`, file]);
  const device = (await run("losetup", ["--find", "--show", file])).stdout.trim();
  loops.push(device);
  const disk = join(byId, `scsi-0HC_Volume_${name}`);
  symlinkSync(device, disk);
  return { disk, device };
}

const mountinfo = () => readFileSync("/proc/self/mountinfo", "utf8");
const blkidType = async (device: string) =>
  (await run("blkid", ["-p", "-s", "TYPE", "-o", "value", device], { allowFailure: true })).stdout.trim();

beforeAll(() => {
  mkdirSync(byId, { recursive: true });
});
afterAll(async () => {
  for (const m of mountPoints.reverse()) await run("umount", [m], { allowFailure: true });
  for (const l of loops) await run("losetup", ["-d", l], { allowFailure: true });
  rmSync(root, { recursive: true, force: true });
});

describe("a cloud volume's disk", () => {
  it("is formatted once when blank, recorded in fstab by UUID with nofail, and mounted", async () => {
    const { disk, device } = await attach("a");
    const mp = join(root, "mnt", "berth-env-shop", "volumes", "data");
    mountPoints.push(mp);
    await ensureDiskMounted(disk, mp, opts);
    expect(mountedSource(mountinfo(), mp)).toBe(device);
    expect(await blkidType(device)).toBe("ext4");
    const uuid = (await run("blkid", ["-s", "UUID", "-o", "value", device])).stdout.trim();
    const fstab = readFileSync(opts.fstabPath, "utf8");
    expect(fstab).toBe(`UUID=${uuid} ${mp} ext4 defaults,nofail,x-systemd.device-timeout=30s 0 2\n`);

    // Data written, the disk unmounted (a reboot, a new agent): mounted again, never formatted.
    writeFileSync(join(mp, "keep.txt"), "precious");
    await ensureDiskMounted(disk, mp, opts); // already mounted: nothing to do
    await run("umount", [mp]);
    await ensureDiskMounted(disk, mp, opts);
    expect(readFileSync(join(mp, "keep.txt"), "utf8")).toBe("precious");
    expect(readFileSync(opts.fstabPath, "utf8")).toBe(fstab);
  });

  it("refuses a disk that holds something else, and leaves it as it was", async () => {
    const { disk, device } = await attach("swap");
    await run("mkswap", [device]);
    const err = await ensureDiskMounted(disk, join(root, "mnt", "swap"), opts).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DiskError);
    expect((err as Error).message).toMatch(/holds a swap filesystem: berth formats only blank disks/);
    expect(await blkidType(device)).toBe("swap");
  });

  it("will not hide files already in the volume's folder, and says when the disk never appears", async () => {
    const { disk, device } = await attach("hidden");
    const mp = join(root, "mnt", "hidden");
    mkdirSync(mp, { recursive: true });
    writeFileSync(join(mp, "old.txt"), "x");
    await expect(ensureDiskMounted(disk, mp, opts)).rejects.toThrow(/already holds files/);
    expect(mountedSource(mountinfo(), mp)).toBeUndefined();
    expect(existsSync(join(mp, "old.txt"))).toBe(true);
    expect(device).toMatch(/^\/dev\/loop/);
    await expect(ensureDiskMounted(join(byId, "scsi-0HC_Volume_missing"), mp, opts)).rejects.toThrow(
      /did not appear within 2 s: is the volume attached to this server\?/,
    );
  });
});

describe("the agent with a volume on a disk", () => {
  const ENV = `disk-${Math.random().toString(36).slice(2, 6)}`;
  const h = new AgentHarness();
  afterAll(async () => {
    await h.cleanup([ENV]);
  });

  it("mounts the disk before Compose runs; the store's data lands on it", async () => {
    const image = await testAppImage();
    await h.start({ healthTimeoutSeconds: 20 });
    // A release names a device under /dev: here the loop device itself.
    const { device } = await attach("store");
    const mp = join(h.volumeRoot, `berth-env-${ENV}`, "volumes", "data");
    mountPoints.push(mp);
    const s = await h.deploy(ENV, 1, appManifest({ message: "v1", image }), { disks: { data: device } });
    expect(s, `${s.error}\n${s.logTail}`).toMatchObject({ state: "applied" });
    expect(mountedSource(mountinfo(), mp)).toBe(device);
    expect(readFileSync(join(mp, "data", "starts"), "utf8").trim().length).toBeGreaterThan(0);
    expect(readFileSync(join(h.root, "fstab"), "utf8")).toContain(` ${mp} ext4 defaults,nofail`);
  }, 600_000);
});
