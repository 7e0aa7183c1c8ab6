import { describe, expect, it } from "vitest";
import { progressLine, terminalProgress } from "./progress";

const p = { fraction: 0.425, bytesDone: 12_897_485, totalBytes: 30_408_704, filesDone: 120, totalFiles: 300 };

describe("restic's progress on a terminal", () => {
  it("reads as a person would", () => {
    expect(progressLine({ volume: "data", what: "backup" }, { ...p, secondsRemaining: 3 })).toBe(
      "backing up data: 42% 12.3 MiB of 29.0 MiB, 120 of 300 files, 3.0 s left",
    );
    expect(progressLine({ volume: "db", what: "restore" }, { ...p, fraction: 1 })).toBe(
      "restoring db: 100% 12.3 MiB of 29.0 MiB, 120 of 300 files",
    );
  });

  it("redraws one line on a TTY and clears it at the end; nothing elsewhere", () => {
    const out: string[] = [];
    const t = terminalProgress({ isTTY: true, write: (s) => out.push(s) });
    t?.listener({ volume: "data", what: "backup" }, p);
    t?.listener({ volume: "data", what: "backup" }, { ...p, fraction: 1 });
    t?.finish();
    expect(out).toEqual([
      "\r\x1b[Kbacking up data: 42% 12.3 MiB of 29.0 MiB, 120 of 300 files",
      "\r\x1b[Kbacking up data: 100% 12.3 MiB of 29.0 MiB, 120 of 300 files",
      "\r\x1b[K",
    ]);
    expect(terminalProgress({ isTTY: false, write: () => undefined })).toBeUndefined();
    expect(terminalProgress({ write: () => undefined })).toBeUndefined();
  });
});
