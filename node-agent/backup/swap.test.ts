// How an interrupted swap is settled, from its journal and what its three paths hold: every state
// the two renames and the removals can leave (and an apply's empty folder at the volume's path)
// ends with the whole previous data or the whole snapshot at the volume's path, never an empty
// one; what cannot be said for sure touches nothing.
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { planSwapRecovery, readSwapJournal, type Seen, type SwapJournal, writeSwapJournal } from "./swap";

const OLD = 11;
const NEW = 22;
const j: SwapJournal = {
  volume: "data",
  device: "/v/data",
  restored: "/v/data.restore-1-2",
  aside: "/v/data.replaced-1-2",
  restoredIno: NEW,
  previousIno: OLD,
  snapshot: { id: "a".repeat(64), shortId: "aaaaaaaa", time: "2026-12-01T00:00:00Z" },
  containers: ["c1"],
  at: "2026-12-07T12:00:00Z",
};
const tree = (ino: number, empty = false): Seen => ({ ino, empty });

describe("planSwapRecovery", () => {
  it("before the first rename: the previous data stays, the restored copy goes", () => {
    const p = planSwapRecovery(j, { device: tree(OLD), restored: tree(NEW), aside: undefined });
    expect(p.outcome).toBe("rolled-back");
    expect(p.steps).toEqual([{ op: "remove", path: j.restored }]);
  });

  it("between the renames (no folder at the volume's path): the previous data goes back", () => {
    const p = planSwapRecovery(j, { device: undefined, restored: tree(NEW), aside: tree(OLD) });
    expect(p.outcome).toBe("rolled-back");
    expect(p.steps).toEqual([
      { op: "rename", from: j.aside, to: j.device },
      { op: "remove", path: j.restored },
    ]);
  });

  it("between the renames, after an apply made an empty folder there: that folder goes first", () => {
    const p = planSwapRecovery(j, { device: tree(33, true), restored: tree(NEW), aside: tree(OLD) });
    expect(p.outcome).toBe("rolled-back");
    expect(p.steps).toEqual([
      { op: "rmdir", path: j.device },
      { op: "rename", from: j.aside, to: j.device },
      { op: "remove", path: j.restored },
    ]);
    expect(p.found).toMatch(/an empty folder at the volume's path/);
  });

  it("after the second rename: finished, only the previous data removed", () => {
    const p = planSwapRecovery(j, { device: tree(NEW), restored: undefined, aside: tree(OLD) });
    expect(p.outcome).toBe("completed");
    expect(p.steps).toEqual([{ op: "remove", path: j.aside }]);
  });

  it("after the previous data was removed (or half removed): finished, nothing else to move", () => {
    expect(planSwapRecovery(j, { device: tree(NEW), restored: undefined, aside: undefined })).toMatchObject({
      outcome: "completed",
      steps: [],
    });
  });

  it("a rollback cut off itself is settled again the same way", () => {
    // The previous data back in place, the restored copy half removed.
    const p = planSwapRecovery(j, { device: tree(OLD), restored: tree(NEW), aside: undefined });
    expect(p).toMatchObject({ outcome: "rolled-back", steps: [{ op: "remove", path: j.restored }] });
  });

  it("a volume that had no folder: rolled back to none, never an empty one kept as restored", () => {
    const fresh: SwapJournal = { ...j, previousIno: undefined, containers: [] };
    expect(
      planSwapRecovery(fresh, { device: undefined, restored: tree(NEW), aside: undefined }),
    ).toMatchObject({
      outcome: "rolled-back",
      steps: [{ op: "remove", path: j.restored }],
    });
    expect(
      planSwapRecovery(fresh, { device: tree(NEW), restored: undefined, aside: undefined }),
    ).toMatchObject({
      outcome: "completed",
      steps: [],
    });
  });

  it("the previous data nowhere: the whole restored copy takes the volume's path", () => {
    const p = planSwapRecovery(j, { device: tree(33, true), restored: tree(NEW), aside: undefined });
    expect(p.outcome).toBe("completed");
    expect(p.steps).toEqual([
      { op: "rmdir", path: j.device },
      { op: "rename", from: j.restored, to: j.device },
    ]);
  });

  it("data of neither tree at the volume's path: nothing touched", () => {
    for (const now of [
      { device: tree(33), restored: tree(NEW), aside: tree(OLD) },
      { device: tree(33), restored: undefined, aside: undefined },
      { device: undefined, restored: undefined, aside: undefined },
    ]) {
      const p = planSwapRecovery(j, now);
      expect(p.outcome, JSON.stringify(now)).toBe("stuck");
      expect(p.steps).toEqual([]);
    }
  });

  it("at every point of the swap the plan leaves one whole tree at the volume's path", () => {
    // The swap's own sequence of states, then each state after a settle that was cut off.
    const states: { device: Seen; restored: Seen; aside: Seen }[] = [
      { device: tree(OLD), restored: tree(NEW), aside: undefined },
      { device: undefined, restored: tree(NEW), aside: tree(OLD) },
      { device: tree(NEW), restored: undefined, aside: tree(OLD) },
      { device: tree(NEW), restored: undefined, aside: undefined },
    ];
    for (const now of states) {
      const p = planSwapRecovery(j, now);
      // Apply the plan to a model of the folder.
      const paths = new Map<string, Seen>([
        [j.device, now.device],
        [j.restored, now.restored],
        [j.aside, now.aside],
      ]);
      for (const s of p.steps) {
        if (s.op === "rename") {
          paths.set(s.to, paths.get(s.from));
          paths.set(s.from, undefined);
        } else paths.set(s.path, undefined);
      }
      const at = paths.get(j.device);
      expect(at?.ino === OLD || at?.ino === NEW, JSON.stringify(now)).toBe(true);
      expect(p.outcome).toBe(at?.ino === NEW ? "completed" : "rolled-back");
      expect(paths.get(j.restored)).toBeUndefined();
      expect(paths.get(j.aside)).toBeUndefined();
    }
  });
});

describe("readSwapJournal", () => {
  it("acts only on the swap's own siblings: a journal naming any other path is refused", () => {
    const root = mkdtempSync(join(tmpdir(), "berth-swap-journal-"));
    const device = join(root, "data");
    mkdirSync(device);
    const good = { ...j, device, restored: `${device}.restore-7-8`, aside: `${device}.replaced-7-8` };
    writeSwapJournal(good);
    expect(readSwapJournal(device)).toEqual(good);
    for (const bad of [
      { restored: "/etc" },
      { aside: join(root, "other") },
      { restored: `${device}.restore-7-8/../../x` },
      { aside: `${join(root, "sub", "data")}.replaced-7-8` },
    ]) {
      writeSwapJournal({ ...good, ...bad });
      expect(() => readSwapJournal(device), JSON.stringify(bad)).toThrow(
        /is not a data\.(restore|replaced)-\* beside the volume/,
      );
    }
  });
});
