// Where Docker published a Compose service's container port, read from the Engine API's
// container list (GET /containers/json) instead of a `docker compose port` process per look
// (~0.1 s of a core each; the early health probes look every 250 ms while `up` runs). The same
// answer as `docker compose port [--index N] SERVICE PORT`: the running container with that
// number (1 without one), not a one-off, its first TCP binding of the port; an IPv4 binding
// before an IPv6 one, and 0.0.0.0 (or none) read as 127.0.0.1.
import { containersWithLabels } from "../access/docker-api";

/** The fields of one entry of the Engine API's container list that matter here. */
export interface ContainerSummary {
  Labels?: Record<string, string>;
  State?: string;
  Ports?: { IP?: string; PrivatePort: number; PublicPort?: number; Type?: string }[];
}

/** The label filter that lists a project's service's containers. */
export function serviceLabels(project: string, service: string): string[] {
  return [`com.docker.compose.project=${project}`, `com.docker.compose.service=${service}`];
}

export class PortNotPublishedError extends Error {}

export function publishedPort(
  containers: readonly ContainerSummary[],
  containerPort: number,
  index = 1,
): { host: string; port: number } {
  const c = containers.find(
    (c) =>
      (c.Labels?.["com.docker.compose.container-number"] ?? "1") === String(index) &&
      c.Labels?.["com.docker.compose.oneoff"] !== "True" &&
      (c.State === undefined || c.State === "running"),
  );
  if (!c) throw new PortNotPublishedError(`no running container number ${index}`);
  const bindings = (c.Ports ?? []).filter(
    (p) => p.PrivatePort === containerPort && (p.Type ?? "tcp") === "tcp" && p.PublicPort,
  );
  const b = bindings.find((p) => !p.IP?.includes(":")) ?? bindings[0];
  if (!b) throw new PortNotPublishedError(`port ${containerPort} is not published`);
  const ip = b.IP ?? "";
  const host = ip === "" || ip === "0.0.0.0" ? "127.0.0.1" : ip === "::" ? "::1" : ip;
  return { host, port: b.PublicPort as number };
}

export type PortLookup = (
  project: string,
  service: string,
  containerPort: number,
  index?: number,
) => Promise<{ host: string; port: number }>;

/**
 * The lookup through the Engine API at `socket` (docker.ts's engineSocket); undefined without one
 * (the caller then runs `docker compose port`).
 */
export function enginePortLookup(socket: string | undefined): PortLookup | undefined {
  if (!socket) return undefined;
  return async (project, service, containerPort, index) =>
    publishedPort(
      (await containersWithLabels(socket, serviceLabels(project, service))) as ContainerSummary[],
      containerPort,
      index,
    );
}
