// A process's line of /proc/<pid>/stat, for the benches' CPU and process-tree figures. The command
// sits in parentheses and may hold spaces, so the fields are counted from its closing one.
import { readFileSync } from "node:fs";

/** Clock ticks per second of /proc's CPU times (USER_HZ: 100 on Linux). */
export const TICKS_PER_SECOND = 100;

export interface ProcStat {
  comm: string;
  ppid: number;
  /** CPU seconds of the process itself (utime + stime). */
  own: number;
  /** CPU seconds of the children it waited for (cutime + cstime). */
  reaped: number;
}

/** The pure parse of one stat line (proc(5): fields 4, 14-17). */
export function parseProcStat(line: string): ProcStat {
  const close = line.lastIndexOf(")");
  const f = line.slice(close + 2).split(" ");
  const n = (field: number) => Number(f[field - 3]);
  return {
    comm: line.slice(line.indexOf("(") + 1, close),
    ppid: n(4),
    own: (n(14) + n(15)) / TICKS_PER_SECOND,
    reaped: (n(16) + n(17)) / TICKS_PER_SECOND,
  };
}

/** `pid`'s stat, or undefined when it is gone. */
export function procStat(pid: number | "self"): ProcStat | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return undefined;
  }
}
