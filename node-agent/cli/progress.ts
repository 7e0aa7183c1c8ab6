// restic's progress for an operator at a terminal (`berth-agent backup` / `restore`): one line,
// redrawn in place on stderr (stdout keeps the command's result), only when stderr is a TTY.
import { humanBytes, humanDuration } from "../../lib/format";
import type { ResticProgressListener } from "../backup/backups";
import type { ResticProgress } from "../backup/restic";

/** `backing up data: 42% 12.3 MiB of 29.0 MiB, 120 of 300 files, 3.0 s left` (pure). */
export function progressLine(o: { volume: string; what: "backup" | "restore" }, p: ResticProgress): string {
  const verb = o.what === "backup" ? "backing up" : "restoring";
  const files = p.totalFiles > 0 ? `, ${p.filesDone} of ${p.totalFiles} files` : "";
  const left =
    p.secondsRemaining !== undefined && p.fraction < 1
      ? `, ${humanDuration(p.secondsRemaining * 1000)} left`
      : "";
  return `${verb} ${o.volume}: ${Math.floor(p.fraction * 100)}% ${humanBytes(p.bytesDone)} of ${humanBytes(p.totalBytes)}${files}${left}`;
}

/**
 * The listener that draws the line, and `finish`, which clears it; undefined when the stream is
 * not a terminal (a pipe or a file gets the results only).
 */
export function terminalProgress(stream: {
  isTTY?: boolean;
  write: (s: string) => unknown;
}): { listener: ResticProgressListener; finish: () => void } | undefined {
  if (!stream.isTTY) return undefined;
  let drawn = false;
  return {
    listener: (o, p) => {
      stream.write(`\r\x1b[K${progressLine(o, p)}`);
      drawn = true;
    },
    finish: () => {
      if (drawn) stream.write("\r\x1b[K");
      drawn = false;
    },
  };
}
