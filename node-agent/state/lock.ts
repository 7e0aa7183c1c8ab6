// One apply at a time per environment: an exclusive lock file holding the owner's pid, with the
// boot id and the process's start time (process-identity.ts). A second apply is refused at once
// with a clear message, never queued; a lock left by a dead process (the agent was killed), by
// a boot before this one, or naming a pid that another process has since taken, is taken over.

import { closeSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { type ProcessIdentity, selfIdentity, stillRunning } from "./process-identity";

export class LockHeldError extends Error {
  constructor(
    readonly what: string,
    readonly holderPid: number,
    readonly since: string,
  ) {
    super(
      `${what} is already running (pid ${holderPid}, since ${since}); wait for it to finish, or stop that process`,
    );
    this.name = "LockHeldError";
  }
}

export interface Lock {
  release(): void;
}

export function acquireLock(path: string, what: string): Lock {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, "wx", 0o600);
      writeSync(fd, JSON.stringify({ ...selfIdentity(), since: new Date().toISOString() }));
      closeSync(fd);
      let released = false;
      return {
        release() {
          if (released) return;
          released = true;
          rmSync(path, { force: true });
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      let holder: Partial<ProcessIdentity> & { since?: string } = {};
      try {
        holder = JSON.parse(readFileSync(path, "utf8"));
      } catch {
        // Half-written by a process killed between open and write: stale.
      }
      const pid = holder.pid;
      if (typeof pid === "number" && stillRunning({ ...holder, pid })) {
        throw new LockHeldError(what, pid, holder.since ?? "unknown");
      }
      rmSync(path, { force: true });
    }
  }
  throw new Error(`could not take the lock ${path}`);
}
