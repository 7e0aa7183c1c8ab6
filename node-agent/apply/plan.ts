// Pure planning of an apply: which services go in which Compose project, and where each
// route's traffic comes from. The agent's executor follows the plan.
import type { NodeExtras } from "../../contract/render/node-compose";

export interface Upstream {
  host: string;
  port: number;
}

/** A route as the proxy knows it: one environment's host (and path prefix). */
export interface RouteKey {
  environmentId: string;
  host: string;
  path?: string;
  /**
   * Server slots its backend needs: twice the service's replicas (old and new side by side during
   * a start-first switch), at least 2. Absent: the proxy's default.
   */
  slots?: number;
}

export interface ApplyPlan {
  /** Stop-first services (volumes, or asked for): one long-lived project per environment. */
  stateful: { project: string; services: string[] };
  /** Start-first services this release starts: in its own project, beside the previous one. */
  stateless: { project: string; services: string[] };
  /** Start-first services left running where they are (their definition did not change). */
  kept: string[];
  /** The project each service runs in once the release is applied. */
  projectOf: Record<string, string>;
}

// Compose project names use `_` as the separator: environment ids cannot contain one, so no
// environment's project can be mistaken for another's.
export function statefulProject(environmentId: string): string {
  return `berth_${environmentId}`;
}

export function releaseProject(environmentId: string, sequence: number): string {
  return `berth_${environmentId}_r${sequence}`;
}

/** Parses `berth_<env>_r<seq>` back; undefined for other names. */
export function parseReleaseProject(environmentId: string, project: string): number | undefined {
  const prefix = `berth_${environmentId}_r`;
  if (!project.startsWith(prefix)) return undefined;
  const rest = project.slice(prefix.length);
  return /^\d+$/.test(rest) ? Number(rest) : undefined;
}

/**
 * `keep`: start-first services that stay where they run now (`projects`: the previous release's
 * `projectOf`), because their definition did not change; the others start in the release's project.
 * `first`: the environment's first release, with nothing of it running: its start-first services
 * join the long-lived project, so one Compose call starts every service in `depends_on` order (a
 * later release that changes one starts it in its own project, and the old container goes).
 */
export function planApply(
  extras: NodeExtras,
  keep?: { services: ReadonlySet<string>; projects: Readonly<Record<string, string>> },
  o: { first?: boolean } = {},
): ApplyPlan {
  const env = extras.environmentId;
  const stateful = extras.services.filter((s) => s.updateOrder === "stop-first").map((s) => s.name);
  const startFirst = extras.services.filter((s) => s.updateOrder === "start-first").map((s) => s.name);
  const kept = startFirst.filter((s) => keep?.services.has(s) && keep.projects[s] !== undefined);
  const stateless = startFirst.filter((s) => !kept.includes(s));
  const projectOf: Record<string, string> = {};
  for (const s of stateful) projectOf[s] = statefulProject(env);
  const project = o.first ? statefulProject(env) : releaseProject(env, extras.sequence);
  for (const s of stateless) projectOf[s] = project;
  for (const s of kept) projectOf[s] = keep?.projects[s] as string;
  return {
    stateful: { project: statefulProject(env), services: stateful },
    stateless: { project, services: stateless },
    kept,
    projectOf,
  };
}

/** How many containers of a service the release runs (`deploy.replicas`; one when absent). */
export function replicasOf(extras: NodeExtras, service: string): number {
  return extras.services.find((s) => s.name === service)?.replicas ?? 1;
}

/** How many replicas a switch replaces at a time (`update_config.parallelism`; 0 or absent: all). */
export function parallelismOf(extras: NodeExtras, service: string): number | undefined {
  const p = extras.services.find((s) => s.name === service)?.updateParallelism;
  return p === undefined || p === 0 ? undefined : p;
}

/** Server slots a route to a service of `replicas` containers needs. */
export function slotsFor(replicas: number): number {
  return Math.max(2, 2 * replicas);
}
