// A workspace's snapshots as an operator sees them (`berth workspace snapshots`): each backup of a
// workspace takes three restic snapshots in a row, under one lock: its tree, its home and the
// agent's notes (backup.ts: tree, home, meta, in that order). Pure: the restic listing in, the sets
// out. A set is named by its tree snapshot's short id; a set that lacks a series (a backup that
// failed half-way) is listed as incomplete and cannot be restored.
import type { Snapshot } from "../backup/restic";
import { HOME_SERIES, META_SERIES, TREE_SERIES } from "./backup";

export const SERIES = [TREE_SERIES, HOME_SERIES, META_SERIES] as const;
export type Series = (typeof SERIES)[number];

export interface WorkspaceSnapshot {
  /** The tree snapshot's short id (the first member's when the tree is missing). */
  id: string;
  /** When the set's first snapshot was taken. */
  time: string;
  members: Partial<Record<Series, Snapshot>>;
  complete: boolean;
}

const isSeries = (v: string | undefined): v is Series => SERIES.includes(v as Series);

/** The listing (any order) grouped into sets, oldest first. */
export function snapshotSets(list: readonly Snapshot[]): WorkspaceSnapshot[] {
  const sorted = list
    .filter((s) => isSeries(s.volume))
    .slice()
    .sort((a, b) => Date.parse(a.time) - Date.parse(b.time));
  const sets: WorkspaceSnapshot[] = [];
  let open: WorkspaceSnapshot | undefined;
  for (const s of sorted) {
    const series = s.volume as Series;
    // A tree opens a set; a series the open set already has (or none open) opens one too.
    if (series === TREE_SERIES || !open || open.members[series]) {
      open = { id: s.shortId, time: s.time, members: {}, complete: false };
      sets.push(open);
    }
    open.members[series] = s;
  }
  for (const set of sets) set.complete = SERIES.every((k) => set.members[k] !== undefined);
  return sets;
}

/** The set an operator named: by its id, or by any member snapshot's id or a prefix of one. */
export function findSnapshotSet(
  sets: readonly WorkspaceSnapshot[],
  wanted: string,
): WorkspaceSnapshot | undefined {
  if (wanted.length < 4) return undefined;
  const exact = sets.find((s) => s.id === wanted);
  if (exact) return exact;
  return sets.find((set) =>
    Object.values(set.members).some((m) => m && (m.shortId === wanted || m.id.startsWith(wanted))),
  );
}

/** One line per set, newest first, for the operator. */
export function formatSnapshotSets(sets: readonly WorkspaceSnapshot[]): string[] {
  return sets
    .slice()
    .reverse()
    .map(
      (s) =>
        `${s.id}\t${s.time}\t${SERIES.map((k) => `${k}=${s.members[k]?.shortId ?? "missing"}`).join(" ")}${s.complete ? "" : "\tincomplete"}`,
    );
}
