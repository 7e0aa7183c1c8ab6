// Who holds a lock, told apart from whoever holds the same pid later: the kernel's boot id (a
// lock written before a reboot is stale, whatever pid runs now) and the process's start time in
// clock ticks since boot (/proc/<pid>/stat, field 22: a reused pid started later). Linux only;
// where /proc does not say, the pid alone decides, as before.
import { readFileSync } from "node:fs";
import { alive } from "../../lib/pid";

export interface ProcessIdentity {
  pid: number;
  /** /proc/sys/kernel/random/boot_id when the lock was taken. */
  bootId?: string;
  /** The process's start time in clock ticks after boot. */
  startTicks?: number;
}

/** The start time of /proc/<pid>/stat's text (field 22, counted after the command's closing parenthesis). */
export function parseStartTicks(stat: string): number | undefined {
  const end = stat.lastIndexOf(")");
  if (end < 0) return undefined;
  // After ") ": field 3 (state) onwards; the start time is field 22, the 20th of these.
  const fields = stat.slice(end + 2).split(" ");
  const v = Number(fields[19]);
  return Number.isSafeInteger(v) && v >= 0 ? v : undefined;
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

export function currentBootId(): string | undefined {
  return read("/proc/sys/kernel/random/boot_id")?.trim() || undefined;
}

export function startTicksOf(pid: number): number | undefined {
  const stat = read(`/proc/${pid}/stat`);
  return stat === undefined ? undefined : parseStartTicks(stat);
}

/** This process, as a lock records it. */
export function selfIdentity(): ProcessIdentity {
  const bootId = currentBootId();
  const startTicks = startTicksOf(process.pid);
  return {
    pid: process.pid,
    ...(bootId ? { bootId } : {}),
    ...(startTicks !== undefined ? { startTicks } : {}),
  };
}

export interface Machine {
  bootId: () => string | undefined;
  startTicksOf: (pid: number) => number | undefined;
  alive: (pid: number) => boolean;
}

const thisMachine: Machine = { bootId: currentBootId, startTicksOf, alive };

/**
 * Whether the process a lock names still runs: the same boot, the pid alive, and (when both
 * are known) the same start time. A lock from before a reboot, or whose pid now belongs to a
 * process that started later, is stale.
 */
export function stillRunning(holder: ProcessIdentity, m: Machine = thisMachine): boolean {
  const boot = m.bootId();
  if (holder.bootId !== undefined && boot !== undefined && holder.bootId !== boot) return false;
  if (!m.alive(holder.pid)) return false;
  if (holder.startTicks === undefined) return true;
  const now = m.startTicksOf(holder.pid);
  return now === undefined || now === holder.startTicks;
}
