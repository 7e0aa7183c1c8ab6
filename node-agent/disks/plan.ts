// Cloud volumes on the node, decided by pure functions: what a disk holds (blkid's probe), what to
// do with it (format only a blank disk, mount only ext4), the fstab entry (by UUID, nofail, so a
// missing volume never stops the node from booting), and whether a folder is a mount point.

/** `blkid -p -o export DEVICE` → its KEY=value pairs (TYPE, UUID, PTTYPE, ...). */
export function parseBlkidExport(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const i = line.indexOf("=");
    if (i > 0) out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}

export type DiskAction =
  | { kind: "format" }
  | { kind: "use"; uuid: string }
  | { kind: "refuse"; reason: string };

/** `probe`: "blank" when blkid finds no signature at all (its exit code 2). */
export function decideDisk(device: string, probe: Record<string, string> | "blank"): DiskAction {
  if (probe === "blank") return { kind: "format" };
  if (probe.PTTYPE) {
    return {
      kind: "refuse",
      reason: `${device} holds a ${probe.PTTYPE} partition table: berth formats only blank disks and mounts a whole-disk ext4; attach a new volume, or wipe this one (wipefs -a) if its data is not needed`,
    };
  }
  if (probe.TYPE === "ext4" && probe.UUID) return { kind: "use", uuid: probe.UUID };
  return {
    kind: "refuse",
    reason: `${device} holds ${probe.TYPE ? `a ${probe.TYPE} filesystem` : "data blkid cannot name"}: berth formats only blank disks and mounts only ext4; copy the data off and wipe it (wipefs -a), or attach a new volume`,
  };
}

/** fstab escapes a space, tab, newline and backslash in a path as octal. */
function fstabPath(p: string): string {
  return p.replace(/[\\ \t\n]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, "0")}`);
}

export function fstabLine(uuid: string, mountPoint: string): string {
  return `UUID=${uuid} ${fstabPath(mountPoint)} ext4 defaults,nofail,x-systemd.device-timeout=30s 0 2`;
}

/**
 * fstab text with one entry for `mountPoint`, by UUID: an entry for the same mount point with
 * another disk is replaced (the volume was replaced); everything else is kept as it was.
 */
export function withFstabEntry(
  text: string,
  uuid: string,
  mountPoint: string,
): { text: string; changed: boolean } {
  const line = fstabLine(uuid, mountPoint);
  const lines = text === "" ? [] : text.replace(/\n$/, "").split("\n");
  const at = lines.findIndex((l) => {
    const fields = l.trim().split(/\s+/);
    return !l.trim().startsWith("#") && fields[1] === fstabPath(mountPoint);
  });
  if (at >= 0 && lines[at] === line) return { text, changed: false };
  if (at >= 0) lines[at] = line;
  else lines.push(line);
  return { text: `${lines.join("\n")}\n`, changed: true };
}

function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

/** From /proc/self/mountinfo: what is mounted at `mountPoint` (its source device), if anything. */
export function mountedSource(mountinfo: string, mountPoint: string): string | undefined {
  let found: string | undefined;
  for (const line of mountinfo.split("\n")) {
    const [left, right] = line.split(" - ");
    if (!left || !right) continue;
    const fields = left.split(" ");
    if (unescapeMountinfo(fields[4] ?? "") !== mountPoint) continue;
    found = unescapeMountinfo(right.split(" ")[1] ?? ""); // the last mount on a point wins
  }
  return found;
}
