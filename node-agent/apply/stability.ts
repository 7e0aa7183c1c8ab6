// "Running and stable" for services with no health check: each of their containers must have run
// for the stable time since its last start. Counted from each container's own start (Docker's
// State.StartedAt), so the time a service already ran while Compose waited for the others'
// healthchecks counts, and a restart in between starts the count again.
// A one-off service (a migration: `restart: "no"` or `on-failure`) that exited 0 is done, as
// Compose's `service_completed_successfully` counts it: Docker does not restart it.
import type { ContainerRun } from "../compose/commands";

export type Stability =
  | { kind: "stable" }
  | { kind: "wait"; ms: number }
  | { kind: "failed"; service: string; state: string; exitCode?: number };

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
  return (
    r.state === "exited" && r.exitCode === 0 && (r.restartPolicy === "no" || r.restartPolicy === "on-failure")
  );
}
