// Backup schedules: cron expressions (5 fields, or 6 with seconds first), evaluated in UTC by
// croner. Pure: the scheduler asks "what is due at `now`, given when this last ran".
import { Cron } from "croner";

/** Why `text` is not a schedule, or undefined when it is one. */
export function scheduleProblem(text: string): string | undefined {
  if (typeof text !== "string" || text.trim() === "") return 'must be a cron expression like "0 3 * * *"';
  try {
    const c = new Cron(text, { paused: true, timezone: "UTC" });
    if (!c.nextRun(new Date(0))) return `${JSON.stringify(text)} never runs`;
    return undefined;
  } catch (e) {
    return `${JSON.stringify(text)} is not a cron expression (${(e as Error).message.replace(/^CronPattern: /, "")}); write e.g. "0 3 * * *" (03:00 UTC daily) or "@hourly"`;
  }
}

function cron(text: string): Cron {
  return new Cron(text, { paused: true, timezone: "UTC" });
}

/** The first run strictly after `after`. */
export function nextRun(schedule: string, after: Date): Date {
  const n = cron(schedule).nextRun(after);
  if (!n) throw new Error(`schedule ${schedule} never runs again`);
  return n;
}

export interface Due {
  /** A run is due now. */
  due: boolean;
  /** Scheduled runs that passed without a run (the agent was down, or busy), besides the due one. */
  missed: number;
  /** When the next run is scheduled after `now`. */
  next: Date;
}

/**
 * Whether a job on `schedule` is due at `now`. `lastRun` is when it last ran (success or not);
 * `since` is when the job first became known (so a new schedule does not count every past
 * occurrence as missed). At most one run is due, however many occurrences passed.
 */
export function dueAt(schedule: string, lastRun: Date | undefined, since: Date, now: Date): Due {
  const from = lastRun ?? since;
  const c = cron(schedule);
  let count = 0;
  let t = c.nextRun(from);
  while (t && t <= now && count < 10_000) {
    count++;
    t = c.nextRun(t);
  }
  return { due: count > 0, missed: Math.max(0, count - 1), next: nextRun(schedule, now) };
}
