// The workspaces' last activity on the node's disk (<state>/workspace-activity.json), so that an
// agent restart does not restart their idle clocks (idle.ts). Writes are coalesced: a change
// schedules one atomic write `coalesceMs` later (lib/atomic-write.ts), and the changes meanwhile
// ride along; a busy workspace costs one small write per `coalesceMs`, an idle one none. `flush()`
// writes what is pending at once (the daemon's stop). A crash loses at most `coalesceMs` of
// activity. A file that cannot be read is reported and ignored: the clocks then count from the
// start, as a node without the file does.
import { existsSync, readFileSync } from "node:fs";
import * as z from "zod";
import { writeFileAtomic } from "../../lib/atomic-write";
import type { Logger } from "../../lib/log";
import { type ActivityRecordEntry, WorkspaceActivity } from "./idle";

export const ACTIVITY_FILE = "workspace-activity.json";

const sample = z.object({ atMs: z.number().finite(), cpuNanos: z.number().finite().nonnegative() });
const activityFile = z.object({
  formatVersion: z.literal(1),
  workspaces: z.record(
    z.string(),
    z.object({ lastActiveMs: z.number().finite(), sample: sample.optional() }),
  ),
});

/** The kept record, or why it cannot be read (no file: an empty record). */
export function parseActivityFile(
  text: string,
): { ok: true; workspaces: Record<string, ActivityRecordEntry> } | { ok: false; reason: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return { ok: false, reason: `not JSON (${(e as Error).message})` };
  }
  const r = activityFile.safeParse(json);
  if (!r.success) {
    const i = r.error.issues[0];
    return { ok: false, reason: `${i?.path.join(".") || "(root)"}: ${i?.message}` };
  }
  return { ok: true, workspaces: r.data.workspaces };
}

export function renderActivityFile(workspaces: Record<string, ActivityRecordEntry>): string {
  return `${JSON.stringify({ formatVersion: 1, workspaces })}\n`;
}

/** A WorkspaceActivity whose record is read from `path` now and written back, coalesced. */
export class PersistedActivity {
  readonly activity: WorkspaceActivity;
  private timer: NodeJS.Timeout | undefined;
  /** Writes done (tests and the bench read it). */
  writes = 0;

  constructor(private readonly o: { path: string; log: Logger; coalesceMs?: number; now?: () => number }) {
    this.activity = new WorkspaceActivity(o.now ?? Date.now, () => this.schedule());
    if (!existsSync(o.path)) return;
    let text: string;
    try {
      text = readFileSync(o.path, "utf8");
    } catch (e) {
      o.log.warn({ path: o.path, err: (e as Error).message }, "could not read the workspaces' activity");
      return;
    }
    const r = parseActivityFile(text);
    if (!r.ok) {
      o.log.warn(
        { path: o.path, reason: r.reason },
        "the workspaces' activity file is unreadable: their idle clocks count from now",
      );
      return;
    }
    this.activity.restore(r.workspaces);
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.write();
    }, this.o.coalesceMs ?? 5_000);
    this.timer.unref();
  }

  private write(): void {
    try {
      writeFileAtomic(this.o.path, renderActivityFile(this.activity.record()));
      this.writes++;
    } catch (e) {
      this.o.log.warn(
        { path: this.o.path, err: (e as Error).message },
        "could not keep the workspaces' activity",
      );
    }
  }

  /** Writes a pending change now (the daemon stopping). */
  flush(): void {
    if (!this.timer) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.write();
  }
}
