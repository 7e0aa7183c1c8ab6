// The I/O around plan.ts: wait for an attached volume's device, probe it, format it only when it
// is blank, record it in fstab by UUID (nofail) and mount it at the volume's folder. Every step is
// idempotent, so an agent killed anywhere in it does the rest at its next start.
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync } from "node:fs";
import { writeFileAtomic } from "../../lib/atomic-write";
import type { Logger } from "../../lib/log";
import { run } from "../../lib/process";
import { decideDisk, mountedSource, parseBlkidExport, withFstabEntry } from "./plan";

export interface DiskOptions {
  /** /etc/fstab on a node. */
  fstabPath: string;
  /** How long to wait for the device of a just-attached volume to appear. */
  deviceTimeoutMs: number;
  log: Logger;
}

export class DiskError extends Error {}

export type MountDisk = (disk: string, mountPoint: string) => Promise<void>;

/**
 * One mounter per agent: calls for a mount point already being mounted share that work (a
 * restore and the apply beside it both make sure of the same disk).
 */
export function diskMounter(o: DiskOptions): MountDisk {
  const inFlight = new Map<string, Promise<void>>();
  return (disk, mountPoint) => {
    const key = `${disk}\0${mountPoint}`;
    let p = inFlight.get(key);
    if (!p) {
      p = ensureDiskMounted(disk, mountPoint, o).finally(() => inFlight.delete(key));
      inFlight.set(key, p);
    }
    return p;
  };
}

async function waitForDevice(disk: string, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (existsSync(disk)) return realpathSync(disk);
    if (Date.now() >= deadline) {
      throw new DiskError(
        `volume disk ${disk} did not appear within ${Math.round(timeoutMs / 1000)} s: is the volume attached to this server?`,
      );
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function probe(device: string): Promise<Record<string, string> | "blank"> {
  const r = await run("blkid", ["-p", "-o", "export", device], { allowFailure: true });
  if (r.exitCode === 2) return "blank";
  if (r.exitCode !== 0)
    throw new DiskError(`blkid could not read ${device}: ${r.stderr.trim() || `exit ${r.exitCode}`}`);
  return parseBlkidExport(r.stdout);
}

export async function ensureDiskMounted(disk: string, mountPoint: string, o: DiskOptions): Promise<void> {
  const device = await waitForDevice(disk, o.deviceTimeoutMs);
  const mounted = mountedSource(readFileSync("/proc/self/mountinfo", "utf8"), mountPoint);
  if (mounted !== undefined && mounted !== device) {
    throw new DiskError(
      `${mountPoint} is a mount of ${mounted}, not of the volume's disk ${disk} (${device}): unmount it, or fix the volume's attachment`,
    );
  }
  let action = decideDisk(disk, await probe(device));
  if (action.kind === "refuse") throw new DiskError(action.reason);
  if (action.kind === "format") {
    o.log.info({ disk, device }, "formatting a blank volume disk (ext4)");
    await run("mkfs.ext4", ["-q", "-m", "0", device]);
    action = decideDisk(disk, await probe(device));
    if (action.kind !== "use") throw new DiskError(`${disk}: no ext4 filesystem found after mkfs.ext4`);
  }
  const fstab = existsSync(o.fstabPath) ? readFileSync(o.fstabPath, "utf8") : "";
  const next = withFstabEntry(fstab, action.uuid, mountPoint);
  if (next.changed) writeFileAtomic(o.fstabPath, next.text, 0o644);
  if (mounted === device) return;
  mkdirSync(mountPoint, { recursive: true, mode: 0o755 });
  if (readdirSync(mountPoint).length > 0) {
    throw new DiskError(
      `${mountPoint} already holds files, which mounting the volume's disk ${disk} would hide: move them onto the volume (mount it elsewhere and copy), then try again`,
    );
  }
  await run("mount", ["-t", "ext4", `UUID=${action.uuid}`, mountPoint]);
  o.log.info({ disk, device, mountPoint, uuid: action.uuid }, "volume disk mounted");
}
