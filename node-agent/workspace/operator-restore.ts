// An operator's restore of a workspace snapshot (`berth workspace restore NAME SNAPSHOT`): the
// current state is never lost silently. In order: the set is found (or the restore refused with
// nothing touched); a running workspace's container is stopped; the current tree, home and notes
// are backed up as a new snapshot, whose id the operator is told (a failed backup refuses the
// restore, and a workspace that ran starts again); the three folders are replaced by the set's
// snapshots, given their owner and mode again; the status takes the restored tree's commit; a
// workspace that ran starts again (same container and image), one stopped idle stays stopped.
import { join } from "node:path";
import type { NodeBackup } from "../../contract/backup/schema";
import type { WorkspaceBackups } from "./backup";
import type { WorkspaceExecutor } from "./executor";
import { notedCommit, restoreFolderRoot } from "./meta-folder";
import { findSnapshotSet, SERIES, snapshotSets } from "./snapshot-sets";

export interface OperatorRestoreDeps {
  id: string;
  ex: WorkspaceExecutor;
  backups: WorkspaceBackups;
  /** What the Backups shell backs up for the workspace, its secrets and its home folder. */
  nb: NodeBackup;
  secrets: Record<string, string>;
  home: string;
  /** Notes the folders' owners and modes before a backup (sync.ts does it before every backup). */
  noteRoots: () => void;
  /** A line for the operator. */
  say: (line: string) => void;
}

/** Runs the restore; resolves with the exit code the operator gets (0: restored). */
export async function operatorRestore(d: OperatorRestoreDeps, wanted: string): Promise<number> {
  const { ex, id, say } = d;
  const sets = snapshotSets(await d.backups.snapshots(id, d.nb, d.secrets));
  const set = findSnapshotSet(sets, wanted);
  if (!set) {
    say(
      `workspace ${id} has no snapshot ${wanted} (berth workspace snapshots ${id} lists them); nothing changed`,
    );
    return 1;
  }
  if (!set.complete) {
    say(
      `snapshot ${set.id} of workspace ${id} is incomplete (${SERIES.filter((k) => !set.members[k]).join(", ")} missing): it cannot be restored; nothing changed`,
    );
    return 1;
  }
  const s = ex.status(id);
  const wasRunning = s?.state === "running";
  if (wasRunning) {
    say(`stopping workspace ${id} for the restore`);
    await ex.stopContainers(id);
  }
  const restart = async () => {
    if (!wasRunning) return;
    await ex.wake(id);
    say(`workspace ${id} runs again`);
  };
  // The state as it is now, at rest: what the restore replaces can be had back.
  d.noteRoots();
  const runs = await d.backups.backupNow(id, d.nb, d.secrets).catch((e: Error) => [
    {
      volume: "*",
      run: { ok: false, error: e.message } as { ok: boolean; error?: string; snapshotId?: string },
    },
  ]);
  const failed = runs.filter((r) => !r.run.ok);
  if (failed.length > 0) {
    say(
      `the current state could not be backed up first (${failed.map((f) => `${f.volume}: ${f.run.error ?? "failed"}`).join("; ")}): nothing was restored`,
    );
    await restart();
    return 1;
  }
  const saved = runs.find((r) => r.volume === SERIES[0])?.run.snapshotId;
  say(
    `the current state was backed up first as snapshot ${saved ?? "?"} (berth workspace restore ${id} ${saved ?? "ID"} brings it back)`,
  );
  const ids = SERIES.map((k) => set.members[k]?.id as string);
  const report = await d.backups.restoreSnapshots(id, d.nb, d.secrets, ids);
  for (const v of report) say(`${v.volume}: ${v.action}: ${v.detail}`);
  const restored = (series: string) => report.some((v) => v.volume === series && v.action === "restored");
  if (restored("home")) restoreFolderRoot(ex.dir(id), "home", d.home);
  if (restored("tree")) restoreFolderRoot(ex.dir(id), "tree", join(ex.dir(id), "repo"));
  const commit = notedCommit(ex.dir(id));
  // Following the branch decides afresh from the restored commit at its next fetch.
  await ex.patchStatus(id, { ...(commit ? { commit } : {}), follow: undefined });
  await restart();
  const ok = report.length === SERIES.length && report.every((v) => v.action === "restored");
  say(
    ok ? `workspace ${id} restored to snapshot ${set.id} of ${set.time}` : `the restore of ${set.id} failed`,
  );
  return ok ? 0 : 1;
}
