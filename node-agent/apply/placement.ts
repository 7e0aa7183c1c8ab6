// Where each service's containers run, and which start-first services a release leaves alone.
// A start-first service whose definition did not change (same pinned image, same rendered
// service, same values of the secrets it reads, same files) keeps its containers in the project
// it already runs in; only the services that changed start in the new release's project. Pure:
// the applier gives it the two releases, their unsealed values and `docker ps`'s answer.
import { createHash } from "node:crypto";
import { canonicalJson } from "../../contract/payload/canonical";
import { LABEL, type NodeExtras } from "../../contract/render/node-compose";
import type { ContainerState } from "../compose/commands";
import type { RenderedDocument } from "../state/release";
import { parseReleaseProject, statefulProject } from "./plan";

/** A release as placement reads it, with the values only the node knows (never stored). */
export interface PlacedRelease {
  document: RenderedDocument;
  extras: NodeExtras;
  /** The variables Compose interpolates (the secrets' values, the files' folder). */
  env: Readonly<Record<string, string>>;
  /** The release's unsealed secrets, by name (the values of secret files). */
  secrets: Readonly<Record<string, string>>;
}

const VARIABLE = /\$\{([A-Za-z_][A-Za-z0-9_]*)/g;

/**
 * What makes a service's container what it is, as one digest: the rendered service without the
 * release number, the networks and volumes it names, the values of the variables it reads, its
 * `x-berth` entry (hooks, replicas) and its secret and config files with their content. Held in
 * memory only: it covers secret values.
 */
export function serviceDigest(r: PlacedRelease, name: string): string | undefined {
  const raw = r.document.services?.[name] as Record<string, unknown> | undefined;
  if (raw === undefined) return undefined;
  const labels = { ...((raw.labels as Record<string, string> | undefined) ?? {}) };
  delete labels[LABEL.release];
  const service = { ...raw, labels };
  const text = JSON.stringify(service);
  const variables = Object.fromEntries(
    [...new Set([...text.matchAll(VARIABLE)].map((m) => m[1] as string))]
      .sort()
      .map((v) => [v, r.env[v] ?? null]),
  );
  const top = (key: "networks" | "volumes", names: string[]) => {
    const all = (r.document[key] ?? {}) as Record<string, unknown>;
    return Object.fromEntries(names.sort().map((n) => [n, all[n] ?? null]));
  };
  const networks = Object.keys((raw.networks as Record<string, unknown> | undefined) ?? {});
  const volumes = ((raw.volumes as { type?: string; source?: string }[] | undefined) ?? [])
    .filter((v) => v.type === "volume" && typeof v.source === "string")
    .map((v) => v.source as string);
  const files = (r.extras.files ?? [])
    .filter((f) => f.service === name)
    .map((f) => ({ ...f, value: f.secret !== undefined ? (r.secrets[f.secret] ?? null) : null }));
  const entry = r.extras.services.find((s) => s.name === name) ?? null;
  return createHash("sha256")
    .update(
      canonicalJson({
        service,
        variables,
        networks: top("networks", networks),
        volumes: top("volumes", volumes),
        extras: entry,
        files,
      }),
    )
    .digest("hex");
}

/** Start-first services of `next` whose definition is the same as in `previous`. */
export function unchangedServices(previous: PlacedRelease, next: PlacedRelease): Set<string> {
  const out = new Set<string>();
  for (const s of next.extras.services) {
    if (s.updateOrder !== "start-first") continue;
    const before = previous.extras.services.find((p) => p.name === s.name);
    if (before?.updateOrder !== "start-first") continue;
    const a = serviceDigest(previous, s.name);
    if (a !== undefined && a === serviceDigest(next, s.name)) out.add(s.name);
  }
  return out;
}

/**
 * Of `unchanged`, the services that can stay as they are: exactly their replicas' containers in
 * the project they run in now, each running and not unhealthy or still starting. Any doubt: the
 * service starts anew.
 */
export function keepable(
  unchanged: ReadonlySet<string>,
  projects: Readonly<Record<string, string>>,
  states: readonly ContainerState[],
  replicas: (service: string) => number,
): Set<string> {
  const out = new Set<string>();
  for (const name of unchanged) {
    const project = projects[name];
    if (project === undefined) continue;
    const mine = states.filter((c) => c.project === project && c.service === name);
    if (
      mine.length === replicas(name) &&
      mine.every((c) => c.state === "running" && (c.health === undefined || c.health === "healthy"))
    )
      out.add(name);
  }
  return out;
}

/**
 * Ids of the containers that belong to no release the node keeps running (pure): with no
 * current release, every container of the environment's projects; otherwise each container of a
 * release project that its service does not run in (`projects`: where the current release's
 * services run), and each container of the long-lived project whose service now runs elsewhere.
 * A stop-first service that a release dropped keeps its container, as Compose leaves it.
 */
export function strayContainers(
  env: string,
  projects: Readonly<Record<string, string>> | undefined,
  psOutput: string,
): string[] {
  const stray: string[] = [];
  for (const line of psOutput.split("\n")) {
    const [id, project, , service = ""] = line.split("\t");
    if (!id || !project) continue;
    const release = parseReleaseProject(env, project) !== undefined;
    const stateful = project === statefulProject(env);
    if (!release && !stateful) continue;
    const home = projects?.[service];
    if (projects === undefined) stray.push(id);
    else if (release && home !== project) stray.push(id);
    else if (stateful && home !== undefined && home !== project) stray.push(id);
  }
  return stray;
}
