// "Running and stable" for services with no health check: each of their containers must have run
// for the stable time since its last start. Counted from each container's own start (Docker's
// State.StartedAt), so the time a service already ran while Compose waited for the others'
// healthchecks counts, and a restart in between starts the count again.
// A one-off service (a migration: `restart: "no"` or `on-failure`) that exited 0 is done, as
// Compose's `service_completed_successfully` counts it: Docker does not restart it.
import { stripVTControlCharacters } from "node:util";
import type { ContainerRun } from "../compose/commands";

export type Stability =
  | { kind: "stable" }
  | { kind: "wait"; ms: number }
  | { kind: "failed"; service: string; state: string; exitCode?: number; oneOff?: ContainerRun };

export function stability(
  services: readonly string[],
  runs: readonly ContainerRun[],
  now: number,
  stableMs: number,
): Stability {
  let wait = 0;
  for (const service of services) {
    const mine = runs.filter((r) => r.service === service);
    if (mine.length === 0) return { kind: "failed", service, state: "absent" };
    for (const r of mine) {
      if (completed(r)) continue;
      if (isOneOff(r) && failedOneOff([r]))
        return { kind: "failed", service, state: r.state, exitCode: r.exitCode, oneOff: r };
      if (r.state !== "running")
        return {
          kind: "failed",
          service,
          state: r.state,
          ...(r.state === "exited" || r.state === "dead" ? { exitCode: r.exitCode } : {}),
        };
      wait = Math.max(wait, stableMs - (now - r.startedAt));
    }
  }
  return wait > 0 ? { kind: "wait", ms: wait } : { kind: "stable" };
}

/** Exited 0 under a restart policy that leaves it so: a one-off that finished its work. */
export function completed(r: ContainerRun): boolean {
  return r.state === "exited" && r.exitCode === 0 && isOneOff(r);
}

/** A one-off's restart policy: Docker leaves its container exited once it ends well. */
export function isOneOff(r: ContainerRun): boolean {
  return r.restartPolicy === "no" || r.restartPolicy === "on-failure";
}

/**
 * A one-off (a migration) that failed: exited non-zero, or being restarted after a non-zero exit
 * (`on-failure`). Nothing waits it out: the release fails at once, naming it.
 */
export function failedOneOff(runs: readonly ContainerRun[]): ContainerRun | undefined {
  return runs.find(
    (r) =>
      isOneOff(r) &&
      r.exitCode !== 0 &&
      (r.state === "exited" || r.state === "dead" || r.state === "restarting"),
  );
}

/** What a failed one-off did, for the release's error: the service, its exit code, its last lines. */
export function oneOffFailureMessage(r: ContainerRun, logTail: string): string {
  // Compose's log output carries terminal control sequences (an erase-line before each line).
  const last = stripVTControlCharacters(logTail).trim();
  return `service ${r.service} exited with code ${r.exitCode} (a one-off, restart: ${r.restartPolicy === "no" ? '"no"' : r.restartPolicy}): ${
    last ? `its last log lines:\n${last}` : "it wrote no log lines"
  }`;
}
