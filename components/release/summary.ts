// What a release means to a reviewer, as plain data: per service its image and environment
// (secret values never: a secret shows as its name), the volumes and the routes. It is an input
// of the Release resource, so `pulumi preview --diff` shows exactly what changes, and it is what
// the provider compares: a Compose edit that changes nothing here is no change.
import { createHash } from "node:crypto";
import type { Manifest, Service } from "../../contract/manifest/schema";

/** Everything about a service but its build context's location (its image tag covers the content). */
function definitionHash(s: Service): string {
  const { build, ...rest } = s;
  const stable = build ? { ...rest, build: { ...build, context: "(content)" } } : rest;
  return `sha256:${createHash("sha256").update(JSON.stringify(stable)).digest("hex").slice(0, 16)}`;
}

export interface ServiceSummary {
  /** The image as pinned (`repo@sha256:…`), or "(built from <context>)" before the build. */
  image: string;
  command?: string[];
  environment: Record<string, string>;
  volumes: string[];
  updateOrder: "start-first" | "stop-first";
  /** The Compose healthcheck, e.g. `CMD python3 … every 5000ms`, or "none". */
  healthcheck: string;
  /** The x-berth-health probe, e.g. `GET :8080/health → 200`. */
  health?: string;
  memoryLimit?: number;
  /** A hash of everything else about the service that reaches the node (labels, dependencies…). */
  definition: string;
}

export interface ReleaseSummary {
  services: Record<string, ServiceSummary>;
  volumes: string[];
  routes: string[];
}

export function secretMarker(name: string): string {
  return `(secret ${name})`;
}

export function summarize(m: Manifest, images: Record<string, string | undefined>): ReleaseSummary {
  const services: Record<string, ServiceSummary> = {};
  for (const name of m.order) {
    const s = m.services[name];
    if (!s) continue;
    const environment: Record<string, string> = {};
    for (const k of Object.keys(s.environment).sort()) {
      const v = s.environment[k];
      if (v) environment[k] = "secret" in v ? secretMarker(v.secret) : v.value;
    }
    services[name] = {
      image: images[name] ?? s.image ?? `(built from ${s.build?.context ?? "?"})`,
      ...(s.command ? { command: s.command } : {}),
      environment,
      volumes: s.volumes.map((v) => `${v.source}:${v.target}${v.readOnly ? ":ro" : ""}`),
      updateOrder: s.updateOrder,
      healthcheck:
        s.healthcheck && !s.healthcheck.disable
          ? `${(s.healthcheck.test ?? ["(image's own)"]).join(" ")}${s.healthcheck.intervalMs ? ` every ${s.healthcheck.intervalMs}ms` : ""}`
          : "none",
      ...(s.health ? { health: `GET :${s.health.port}${s.health.path} → ${s.health.status}` } : {}),
      ...(s.resources.limits?.memory ? { memoryLimit: s.resources.limits.memory } : {}),
      definition: definitionHash(s),
    };
  }
  return {
    services,
    volumes: Object.keys(m.volumes).sort(),
    routes: m.routes.map((r) => `${r.host}${r.path ?? ""} -> ${r.service}:${r.port}`).sort(),
  };
}

/** Property paths that differ between two summaries, like `services.web.environment.GREETING`. */
export function summaryChanges(a: unknown, b: unknown, path = ""): string[] {
  if (JSON.stringify(a) === JSON.stringify(b)) return [];
  const isObj = (x: unknown): x is Record<string, unknown> =>
    typeof x === "object" && x !== null && !Array.isArray(x);
  if (!isObj(a) || !isObj(b)) return [path || "(all)"];
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return keys.flatMap((k) => summaryChanges(a[k], b[k], path ? `${path}.${k}` : k));
}
