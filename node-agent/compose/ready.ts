// Whether every service of a Compose call runs as `docker compose up --wait` waits for it, read
// from the Engine API's container list: each service has its containers (one per replica, not
// one-offs), each one running, and healthy where the service has a Docker healthcheck. Compose
// itself looks at its services' health only every 500 ms, first 500 ms after it started them, so
// its `--wait` returns up to half a second after the last healthcheck passed; the apply of a first
// release looks every 100 ms beside it (node-agent/apply/apply.ts), and the app on a node made
// anew serves that much sooner. Compose's own answer is still awaited before the release counts.
import type { ContainerSummary } from "./published-port";

/** One list entry with what this needs: its labels, state and Docker's status line. */
export interface ContainerStatus extends ContainerSummary {
  /** Docker's status line, e.g. `Up 3 seconds (healthy)`. */
  Status?: string;
}

export interface ReadyQuestion {
  project: string;
  services: readonly string[];
  /** Containers each service runs (its replicas). */
  replicas: (service: string) => number;
  /** Whether the service has a Docker healthcheck (its own or its image's). */
  checked: (service: string) => boolean;
}

/** True when every service runs as Compose's --wait waits for; any doubt: false. */
export function composeReady(containers: readonly ContainerStatus[], q: ReadyQuestion): boolean {
  return q.services.every((service) => {
    const mine = containers.filter(
      (c) =>
        c.Labels?.["com.docker.compose.project"] === q.project &&
        c.Labels?.["com.docker.compose.service"] === service &&
        c.Labels?.["com.docker.compose.oneoff"] !== "True",
    );
    return (
      mine.length >= Math.max(1, q.replicas(service)) &&
      mine.every((c) => c.State === "running" && (!q.checked(service) || /\(healthy\)/.test(c.Status ?? "")))
    );
  });
}
