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
}

export function planBuilds(m: Manifest, projectDir: string): PlannedBuild[] {
  const byKey = new Map<string, PlannedBuild>();
  // File order, so an image is named after the first service written with that build.
  for (const name of Object.keys(m.services)) {
    const b = m.services[name]?.build;
    if (!b) continue;
    const context = path.resolve(projectDir, b.context);
    const key = JSON.stringify([
      context,
      b.dockerfile ?? null,
      Object.entries(b.args).sort(),
      b.target ?? null,
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
      });
    }
  }
  return [...byKey.values()];
}
