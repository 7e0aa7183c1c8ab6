import { describe, expect, it } from "vitest";
import type { Snapshot } from "../backup/restic";
import { findSnapshotSet, formatSnapshotSets, snapshotSets } from "./snapshot-sets";

const snap = (id: string, volume: string, second: number): Snapshot => ({
  id: `${id}${"0".repeat(56)}`,
  shortId: id,
  time: `2026-12-06T10:00:${String(second).padStart(2, "0")}Z`,
  volume,
});

describe("a workspace's snapshot sets", () => {
  const list = [
    // Out of order, as a listing may come; a failed backup took no notes (meta).
    snap("bbbb0002", "home", 12),
    snap("aaaa0001", "tree", 1),
    snap("aaaa0002", "home", 2),
    snap("aaaa0003", "meta", 3),
    snap("bbbb0001", "tree", 11),
    snap("cccc0001", "tree", 21),
    snap("cccc0002", "home", 22),
    snap("cccc0003", "meta", 23),
    snap("eeee0001", "other", 30),
  ];

  it("groups each backup's tree, home and notes, named by the tree, and marks a set that lacks one", () => {
    const sets = snapshotSets(list);
    expect(sets.map((s) => [s.id, s.complete, Object.keys(s.members).sort()])).toEqual([
      ["aaaa0001", true, ["home", "meta", "tree"]],
      ["bbbb0001", false, ["home", "tree"]],
      ["cccc0001", true, ["home", "meta", "tree"]],
    ]);
    expect(sets[0]?.time).toBe("2026-12-06T10:00:01Z");
  });

  it("a series seen twice, or before any tree, opens a set of its own", () => {
    const sets = snapshotSets([
      snap("dddd0001", "home", 1),
      snap("dddd0002", "home", 2),
      snap("dddd0003", "tree", 3),
    ]);
    expect(sets.map((s) => [s.id, s.complete])).toEqual([
      ["dddd0001", false],
      ["dddd0002", false],
      ["dddd0003", false],
    ]);
  });

  it("finds a set by its id, a member's short id or a prefix of a member's full id", () => {
    const sets = snapshotSets(list);
    expect(findSnapshotSet(sets, "cccc0001")?.id).toBe("cccc0001");
    expect(findSnapshotSet(sets, "aaaa0003")?.id).toBe("aaaa0001");
    expect(findSnapshotSet(sets, "cccc00020000")?.id).toBe("cccc0001");
    expect(findSnapshotSet(sets, "ffff0001")).toBeUndefined();
    // Too short to name one.
    expect(findSnapshotSet(sets, "aaa")).toBeUndefined();
  });

  it("prints one line per set, newest first, with its three restic ids", () => {
    expect(formatSnapshotSets(snapshotSets(list))).toEqual([
      "cccc0001\t2026-12-06T10:00:21Z\ttree=cccc0001 home=cccc0002 meta=cccc0003",
      "bbbb0001\t2026-12-06T10:00:11Z\ttree=bbbb0001 home=bbbb0002 meta=missing\tincomplete",
      "aaaa0001\t2026-12-06T10:00:01Z\ttree=aaaa0001 home=aaaa0002 meta=aaaa0003",
    ]);
  });
});
