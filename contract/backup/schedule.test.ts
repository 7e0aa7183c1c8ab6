import { describe, expect, it } from "vitest";
import { dueAt, nextRun, scheduleProblem } from "./schedule";

const t = (s: string) => new Date(s);

describe("backup schedules", () => {
  it("accepts cron with 5 or 6 fields and nicknames, refuses the rest with an example", () => {
    expect(scheduleProblem("0 3 * * *")).toBeUndefined();
    expect(scheduleProblem("*/5 * * * * *")).toBeUndefined();
    expect(scheduleProblem("@hourly")).toBeUndefined();
    expect(scheduleProblem("every day")).toMatch(/is not a cron expression .*0 3 \* \* \*/);
    expect(scheduleProblem("61 * * * *")).toMatch(/not a cron expression/);
    expect(scheduleProblem("")).toMatch(/cron/);
  });

  it("computes the next run in UTC", () => {
    expect(nextRun("0 3 * * *", t("2026-01-01T04:00:00Z")).toISOString()).toBe("2026-01-02T03:00:00.000Z");
  });

  it("is due once after a scheduled time passed, and counts the runs missed besides it", () => {
    const since = t("2026-01-01T00:00:00Z");
    expect(dueAt("0 3 * * *", undefined, since, t("2026-01-01T02:59:00Z"))).toMatchObject({
      due: false,
      missed: 0,
    });
    expect(dueAt("0 3 * * *", undefined, since, t("2026-01-01T03:00:00Z"))).toMatchObject({
      due: true,
      missed: 0,
    });
    // Ran at 03:00 on the 1st; the agent was down for three days.
    const d = dueAt("0 3 * * *", t("2026-01-01T03:00:05Z"), since, t("2026-01-04T10:00:00Z"));
    expect(d).toMatchObject({ due: true, missed: 2 });
    expect(d.next.toISOString()).toBe("2026-01-05T03:00:00.000Z");
    expect(dueAt("0 3 * * *", t("2026-01-04T10:00:00Z"), since, t("2026-01-04T11:00:00Z")).due).toBe(false);
  });
});
