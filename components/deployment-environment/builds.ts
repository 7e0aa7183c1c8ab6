// Which images an environment builds: one per distinct build (context, Dockerfile, args,
// target), shared by the services that use it. Pure.
import * as path from "node:path";
import type { Manifest } from "../../contract/manifest/schema";

export interface PlannedBuild {
  /** A short name for the image, from the first service that uses it. */
  name: string;
  services: string[];
  context: string;
  dockerfile?: string;
  args: Record<string, string>;
  target?: string;
  dockerfileInline?: string;
  labels?: Record<string, string>;
  /** Named contexts: an absolute folder, or `service:NAME` (that service's image). */
  additionalContexts?: Record<string, string>;
  platform?: string;
}

export function planBuilds(m: Manifest, projectDir: string): PlannedBuild[] {
  const byKey = new Map<string, PlannedBuild>();
  // File order, so an image is named after the first service written with that build.
  for (const name of Object.keys(m.services)) {
    const b = m.services[name]?.build;
    if (!b) continue;
    const context = path.resolve(projectDir, b.context);
    const contexts = b.additionalContexts
      ? Object.fromEntries(
          Object.entries(b.additionalContexts).map(([k, v]) => [
            k,
            v.startsWith("service:") ? v : path.resolve(projectDir, v),
          ]),
        )
      : undefined;
    const key = JSON.stringify([
      context,
      b.dockerfile ?? null,
      Object.entries(b.args).sort(),
      b.target ?? null,
      b.dockerfileInline ?? null,
      Object.entries(b.labels ?? {}).sort(),
      Object.entries(contexts ?? {}).sort(),
      b.platforms ?? null,
    ]);
    const planned = byKey.get(key);
    if (planned) planned.services.push(name);
    else {
      byKey.set(key, {
        name,
        services: [name],
        context,
        args: b.args,
        ...(b.dockerfile ? { dockerfile: b.dockerfile } : {}),
        ...(b.target ? { target: b.target } : {}),
        ...(b.dockerfileInline ? { dockerfileInline: b.dockerfileInline } : {}),
        ...(b.labels && Object.keys(b.labels).length ? { labels: b.labels } : {}),
        ...(contexts ? { additionalContexts: contexts } : {}),
        ...(b.platforms?.[0] ? { platform: b.platforms[0] } : {}),
      });
    }
  }
  return [...byKey.values()];
}

/** Builds ordered so that one naming another service's image (service:NAME) comes after it. */
export function buildOrder(builds: readonly PlannedBuild[]): PlannedBuild[] {
  const byService = new Map<string, PlannedBuild>();
  for (const b of builds) for (const s of b.services) byService.set(s, b);
  const out: PlannedBuild[] = [];
  const state = new Map<PlannedBuild, "visiting" | "done">();
  const visit = (b: PlannedBuild, chain: string[]) => {
    if (state.get(b) === "done") return;
    if (state.get(b) === "visiting")
      throw new Error(`build contexts name each other in a cycle: ${[...chain, b.name].join(" -> ")}`);
    state.set(b, "visiting");
    for (const v of Object.values(b.additionalContexts ?? {})) {
      const dep = v.startsWith("service:") ? byService.get(v.slice(8)) : undefined;
      if (dep && dep !== b) visit(dep, [...chain, b.name]);
    }
    state.set(b, "done");
    out.push(b);
  };
  for (const b of builds) visit(b, []);
  return out;
}
