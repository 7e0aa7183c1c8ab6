import { describe, expect, it } from "vitest";
import type { NodeBackup } from "../../contract/backup/schema";
import { backupStatusOf, emptyRecord, planTick, recordBackup, recordMissed } from "./record";

const b: NodeBackup = {
  repository: "s3:http://127.0.0.1:9000/b/shop",
  region: "auto",
  pruneSchedule: "30 4 * * *",
  checkSchedule: "0 5 * * 0",
  restoreOnFirstApply: true,
  secrets: { password: "p", accessKeyId: "a", secretAccessKey: "s" },
  volumes: [
    { name: "db", device: "/d", schedule: "0 3 * * *", retention: { last: 3 }, stop: [] },
    { name: "files", device: "/f", schedule: "0 */6 * * *", retention: { last: 3 }, stop: [] },
  ],
};
const t = (s: string) => new Date(s);

describe("the backup schedule pass", () => {
  it("runs each volume when its schedule says, then prune and check on theirs", () => {
    const r = emptyRecord(t("2026-01-01T00:00:00Z")); // a Thursday
    expect(planTick(b, r, t("2026-01-01T02:00:00Z")).jobs).toEqual([]);
    expect(planTick(b, r, t("2026-01-01T03:00:01Z")).jobs).toEqual([{ kind: "backup", volume: "db" }]);
    expect(planTick(b, r, t("2026-01-01T06:00:01Z")).jobs).toEqual([
      { kind: "backup", volume: "db" },
      { kind: "backup", volume: "files" },
      { kind: "prune" },
    ]);
    expect(planTick(b, r, t("2026-01-04T05:00:01Z")).jobs).toContainEqual({ kind: "check" });
  });

  it("counts scheduled runs that passed while the agent was down as missed, and reports them", () => {
    const run = {
      at: "2026-01-01T03:00:00.000Z",
      durationMs: 1000,
      ok: true,
      snapshotId: "s1",
      bytesAdded: 10,
    };
    let r = recordBackup(emptyRecord(t("2026-01-01T00:00:00Z")), "db", run);
    r = recordBackup(r, "files", { ...run, snapshotId: "s2" });
    const now = t("2026-01-03T04:00:00Z");
    const plan = planTick(b, r, now);
    expect(plan.missed).toEqual({ db: 1, files: 7 });
    const s = backupStatusOf(b, recordMissed(r, plan.missed, now), now);
    expect(s.state).toBe("missed");
    expect(s.volumes[0]).toMatchObject({
      volume: "db",
      missed: 2,
      lastMissed: { at: now.toISOString(), count: 1 },
      lastSuccess: { snapshotId: "s1" },
    });
    // A success clears the count, and the status still says when runs were missed.
    const after = recordBackup(recordMissed(r, plan.missed, now), "db", run);
    expect(backupStatusOf(b, after, now).volumes[0]).toMatchObject({ missed: 1, lastMissed: { count: 1 } });
  });

  it("a failed backup makes the state failing, keeps the last success, and says why", () => {
    const ok = { at: "2026-01-01T03:00:00.000Z", durationMs: 1, ok: true, snapshotId: "s1" };
    let r = recordBackup(emptyRecord(t("2026-01-01T00:00:00Z")), "db", ok);
    r = recordBackup(r, "files", ok);
    r = recordBackup(r, "db", {
      at: "2026-01-02T03:00:00.000Z",
      durationMs: 1,
      ok: false,
      error: "wrong repository password",
    });
    const s = backupStatusOf(b, r, t("2026-01-02T03:00:05Z"));
    expect(s.state).toBe("failing");
    expect(s.volumes[0]).toMatchObject({
      last: { ok: false, error: "wrong repository password" },
      lastSuccess: { snapshotId: "s1" },
    });
    expect(s.volumes[0]?.nextAt).toBe("2026-01-03T03:00:00.000Z");
  });
});
