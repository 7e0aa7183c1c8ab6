// services.*.profiles, as Compose reads them: a service with profiles runs only when one of them
// is active (`*` activates every profile); a service without profiles always runs. The active
// profiles come from the environment's configuration (berth:environments[].profiles), never from
// COMPOSE_PROFILES in the process environment.
import type { Path } from "./problem";
import { asTextList, type Ctx } from "./read";
import { entry, type YNode } from "./tree";

const PROFILE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** The service's profiles (empty when it has none), or undefined when they cannot be read. */
export function readProfiles(ctx: Ctx, service: YNode, path: Path): string[] | undefined {
  if (service.kind !== "map") return [];
  const e = entry(service, "profiles");
  if (!e) return [];
  const list = asTextList(ctx, e.value, [...path, "profiles"], "profiles");
  if (!list) return undefined;
  const bad = list.find((p) => !PROFILE.test(p));
  if (bad !== undefined) {
    ctx.problems.error(
      e.value.pos,
      [...path, "profiles"],
      `${JSON.stringify(bad)} is not a profile name`,
      "letters, digits, '.', '_' or '-', starting with a letter or digit",
    );
    return undefined;
  }
  return list;
}

export function profilesActive(profiles: readonly string[], active: readonly string[]): boolean {
  return profiles.length === 0 || active.includes("*") || profiles.some((p) => active.includes(p));
}
