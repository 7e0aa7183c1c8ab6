import { describe, expect, it } from "vitest";
import { decideDisk, fstabLine, mountedSource, parseBlkidExport, withFstabEntry } from "./plan";

const dev = "/dev/disk/by-id/scsi-0HC_Volume_1";

describe("cloud volume disks", () => {
  it("formats only a blank disk, mounts only ext4, and says why it refuses anything else", () => {
    expect(decideDisk(dev, "blank")).toEqual({ kind: "format" });
    const ext4 = parseBlkidExport("DEVNAME=/dev/sdb\nUUID=1b2c\nVERSION=1.0\nTYPE=ext4\nUSAGE=filesystem\n");
    expect(decideDisk(dev, ext4)).toEqual({ kind: "use", uuid: "1b2c" });
    const xfs = decideDisk(dev, { TYPE: "xfs", UUID: "9" });
    expect(xfs).toMatchObject({ kind: "refuse" });
    expect((xfs as { reason: string }).reason).toMatch(
      /holds a xfs filesystem: berth formats only blank disks/,
    );
    expect((decideDisk(dev, { PTTYPE: "gpt" }) as { reason: string }).reason).toMatch(/gpt partition table/);
    expect((decideDisk(dev, { USAGE: "other" }) as { reason: string }).reason).toMatch(
      /data blkid cannot name/,
    );
  });

  it("keeps one fstab entry per mount point, by UUID with nofail, and keeps every other line", () => {
    const base = "# /etc/fstab\nUUID=root / ext4 defaults 0 1\n";
    const a = withFstabEntry(base, "aaaa", "/mnt/berth-env-shop/volumes/data");
    expect(a.changed).toBe(true);
    expect(a.text).toBe(
      `${base}UUID=aaaa /mnt/berth-env-shop/volumes/data ext4 defaults,nofail,x-systemd.device-timeout=30s 0 2\n`,
    );
    expect(withFstabEntry(a.text, "aaaa", "/mnt/berth-env-shop/volumes/data")).toEqual({
      text: a.text,
      changed: false,
    });
    const b = withFstabEntry(a.text, "bbbb", "/mnt/berth-env-shop/volumes/data");
    expect(b.text.split("\n").filter((l) => l.includes("/volumes/data"))).toEqual([
      fstabLine("bbbb", "/mnt/berth-env-shop/volumes/data"),
    ]);
    expect(withFstabEntry("", "c", "/mnt/a b").text).toBe(
      "UUID=c /mnt/a\\040b ext4 defaults,nofail,x-systemd.device-timeout=30s 0 2\n",
    );
  });

  it("reads what is mounted where from mountinfo", () => {
    const info = [
      "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw",
      "40 22 7:0 / /mnt/berth-env-shop/volumes/data rw,relatime shared:20 - ext4 /dev/loop0 rw",
      "41 22 0:5 / /mnt/a\\040b rw - tmpfs tmpfs rw",
    ].join("\n");
    expect(mountedSource(info, "/mnt/berth-env-shop/volumes/data")).toBe("/dev/loop0");
    expect(mountedSource(info, "/mnt/a b")).toBe("tmpfs");
    expect(mountedSource(info, "/mnt/berth-env-shop")).toBeUndefined();
  });
});
