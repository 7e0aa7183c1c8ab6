// An operator's restore over a volume that holds data swaps two folders: the restored copy
// (`<device>.restore-*`) takes the volume's path and the previous data goes. The swap is one
// renameat2(RENAME_EXCHANGE) where the node gives it: Node.js has no binding and `mv --exchange`
// is only in coreutils 9.5 and later (Debian 13's, not Debian 12's), so it goes through the
// node's python3 (ctypes; glibc has had the wrapper since 2.28; cloud-init runs on that python3),
// and the volume's path never lacks a whole tree. Without it (no python3, a file system that
// refuses the flag) it is two renames: the previous data aside to `<device>.replaced-*`, then the
// restored copy in, with no folder at the volume's path between them.
//
// Either way a journal comes first: `<device>.swap.json`, beside the volume on the same file
// system, written and fsynced before anything is stopped or moved. It names the three paths, the
// inode of the restored tree and of the previous one (a rename or an exchange keeps a folder's
// inode), the snapshot, and the containers stopped for the swap. After a crash at any point, the
// next pass (the agent's start, each backup pass, an apply, a restore) finds the journal and
// settles the swap from what the paths hold now (planSwapRecovery, pure): the restored tree at the
// volume's path means the swap happened, and only the previous data is removed; otherwise it is
// rolled back, the previous data put back at the volume's path and the restored copy removed. The
// containers stopped for the swap are started again; the journal goes last. The outcome is the
// environment's restore report.
import { existsSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, statSync } from "node:fs";
import { basename, dirname } from "node:path";
import * as z from "zod";
import { fsyncDir, writeFileAtomic } from "../../lib/atomic-write";
import { run } from "../../lib/process";
import { NODE_PYTHON } from "../access/splice-relay";

export const swapJournalSchema = z.strictObject({
  volume: z.string(),
  /** The volume's folder. */
  device: z.string(),
  /** The restored copy, complete and flushed before the journal was written. */
  restored: z.string(),
  /** Where the previous data goes for the swap. */
  aside: z.string(),
  /** Inode of the restored tree. */
  restoredIno: z.number(),
  /** Inode of the volume's folder before the swap; absent when the volume had no folder. */
  previousIno: z.number().optional(),
  snapshot: z.strictObject({ id: z.string(), shortId: z.string(), time: z.string() }),
  /** Containers stopped for the swap (or about to be): started again whatever happens. */
  containers: z.array(z.string()),
  /** When the swap began. */
  at: z.string(),
});
export type SwapJournal = z.infer<typeof swapJournalSchema>;

/** The journal of `device`'s swap. */
export const swapJournalPath = (device: string) => `${device}.swap.json`;

/** What a path holds now: nothing, or a folder (its inode, whether it is empty). */
export type Seen = { ino: number; empty: boolean } | undefined;

export type SwapStep =
  | { op: "remove"; path: string }
  | { op: "rename"; from: string; to: string }
  /** Removes an empty folder (rmdir: never anything in it). */
  | { op: "rmdir"; path: string };

export interface SwapRecoveryPlan {
  /**
   * completed: the restored data is at the volume's path; rolled-back: the previous data is (or
   * the volume had no folder and has none); stuck: neither can be said for sure, nothing is
   * touched and the journal stays.
   */
  outcome: "completed" | "rolled-back" | "stuck";
  steps: SwapStep[];
  /** What was found, in words, for the report. */
  found: string;
}

/** How to settle an interrupted swap, from its journal and what its three paths hold now. Pure. */
export function planSwapRecovery(
  j: SwapJournal,
  now: { device: Seen; restored: Seen; aside: Seen },
): SwapRecoveryPlan {
  const isNew = (s: Seen) => s !== undefined && s.ino === j.restoredIno;
  const isOld = (s: Seen) => s !== undefined && j.previousIno !== undefined && s.ino === j.previousIno;
  const removeIfThere = (...paths: [string, Seen][]): SwapStep[] =>
    paths.filter(([, s]) => s !== undefined).map(([path]) => ({ op: "remove", path }));
  if (isNew(now.device))
    return {
      outcome: "completed",
      found: "the restored data already at the volume's path",
      steps: removeIfThere([j.aside, now.aside], [j.restored, now.restored]),
    };
  // Nothing, or an empty folder (an apply makes the volume's folder when there is none), at the
  // volume's path.
  const emptyOrNothing = now.device === undefined || now.device.empty;
  const what = now.device ? "an empty folder" : "no folder";
  if (isOld(now.device) || (j.previousIno === undefined && emptyOrNothing))
    return {
      outcome: "rolled-back",
      found:
        j.previousIno === undefined
          ? `${what} at the volume's path, which had none before the restore`
          : "the previous data still at the volume's path",
      steps: removeIfThere([j.restored, now.restored], [j.aside, now.aside]),
    };
  const clear: SwapStep[] = now.device ? [{ op: "rmdir", path: j.device }] : [];
  if (emptyOrNothing && isOld(now.aside))
    return {
      outcome: "rolled-back",
      found: `${what} at the volume's path, the previous data aside in ${basename(j.aside)}`,
      steps: [
        ...clear,
        { op: "rename", from: j.aside, to: j.device },
        ...removeIfThere([j.restored, now.restored]),
      ],
    };
  // The previous data is nowhere (never seen in practice: it is removed only after the restored
  // data took its place): the restored copy is the only whole tree.
  if (emptyOrNothing && isNew(now.restored) && now.aside === undefined)
    return {
      outcome: "completed",
      found: `${what} at the volume's path and the previous data nowhere, the restored copy whole`,
      steps: [...clear, { op: "rename", from: j.restored, to: j.device }],
    };
  return {
    outcome: "stuck",
    found: `the volume's path holds ${now.device ? (now.device.empty ? "an empty folder" : "data of neither the previous volume nor the snapshot") : "nothing"}; ${basename(j.aside)} ${now.aside ? "exists" : "is absent"}; ${basename(j.restored)} ${now.restored ? "exists" : "is absent"}`,
    steps: [],
  };
}

/** What a path holds now. */
export function seen(path: string): Seen {
  try {
    const st = statSync(path);
    if (!st.isDirectory()) return { ino: st.ino, empty: false };
    return { ino: st.ino, empty: readdirSync(path).length === 0 };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

/** Writes the journal, on disk (file and folder fsynced) before it returns. */
export function writeSwapJournal(j: SwapJournal): void {
  writeFileAtomic(swapJournalPath(j.device), `${JSON.stringify(j, null, 2)}\n`);
}

/** The journal of `device`'s swap, if there is one; throws naming the file when it cannot be read. */
export function readSwapJournal(device: string): SwapJournal | undefined {
  const path = swapJournalPath(device);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
  const parsed = swapJournalSchema.safeParse(
    (() => {
      try {
        return JSON.parse(text);
      } catch {
        return undefined;
      }
    })(),
  );
  if (!parsed.success) throw new Error(`${path} is not a restore's swap journal: move it away to go on`);
  const j = parsed.data;
  if (j.device !== device) throw new Error(`${path} names another volume folder (${j.device})`);
  // The settle renames and removes what the journal names: only the swap's own siblings.
  for (const [what, p, kind] of [
    ["restored", j.restored, "restore"],
    ["aside", j.aside, "replaced"],
  ] as const)
    if (!isSibling(device, p, kind))
      throw new Error(
        `${path}: ${what} ${p} is not a ${basename(device)}.${kind}-* beside the volume: move the file away to go on`,
      );
  return j;
}

/** `p` is `<device>.<kind>-<pid>-<ms>`, in the volume's parent folder. */
function isSibling(device: string, p: string, kind: "restore" | "replaced"): boolean {
  const prefix = `${basename(device)}.${kind}-`;
  const name = basename(p);
  return (
    dirname(p) === dirname(device) && name.startsWith(prefix) && /^\d+-\d+$/.test(name.slice(prefix.length))
  );
}

export function removeSwapJournal(device: string): void {
  rmSync(swapJournalPath(device), { force: true });
  fsyncDir(dirname(device));
}

/** Runs a plan's steps; the renames are on disk (the folder fsynced) before it returns. */
export function runSwapSteps(steps: readonly SwapStep[], parent: string): void {
  for (const s of steps) {
    if (s.op === "rename") renameSync(s.from, s.to);
    else if (s.op === "rmdir")
      rmdirSync(s.path); // rmdir(2): only an empty folder
    else rmSync(s.path, { recursive: true, force: true });
  }
  fsyncDir(parent);
}

/** Whether `device` has a swap journal beside it. */
export const hasSwapJournal = (device: string) => existsSync(swapJournalPath(device));

/**
 * renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE). Exit 0: exchanged; 3: not there (no
 * renameat2 in the C library, or EINVAL, ENOSYS, EOPNOTSUPP: a file system without the flag);
 * 1: another error, on stderr.
 */
const EXCHANGE_PY = String.raw`
import ctypes, errno, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if not hasattr(libc, "renameat2"):
    sys.exit(3)
if libc.renameat2(-100, os.fsencode(sys.argv[1]), -100, os.fsencode(sys.argv[2]), 2) == 0:
    sys.exit(0)
e = ctypes.get_errno()
sys.stderr.write(os.strerror(e) + "\n")
sys.exit(3 if e in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP) else 1)
`;

/** Exchanges two folders in one step, or does nothing; the caller looks at the inodes to know which. */
export type ExchangeFolders = (a: string, b: string) => Promise<void>;

/** Through the node's python3; nothing happens when it is missing or the exchange is refused. */
export const exchangeFolders: ExchangeFolders = async (a, b) => {
  await run(NODE_PYTHON, ["-I", "-S", "-c", EXCHANGE_PY, a, b], {
    allowFailure: true,
    timeoutMs: 30_000,
  }).catch(() => undefined);
};
