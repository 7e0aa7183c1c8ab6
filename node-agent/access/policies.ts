// What the node enforces for each target, from what the program signed: an environment's current
// release (`x-berth.access` of its rendered file, verified when it arrived) and a workspace's
// verified declaration. No signed word, no access.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import {
  type AccessPolicy,
  type AccessTarget,
  accessPolicySchema,
  type TargetPolicy,
} from "../../contract/access";

export interface PolicySources {
  stateRoot: string;
  /** A workspace's access policy from its verified declaration (undefined: no such workspace). */
  workspace?: (id: string) => Promise<AccessPolicy | undefined>;
}

/** The access policy in the current release of `env` on this node, if it has one. */
export function environmentPolicy(stateRoot: string, env: string): AccessPolicy | undefined {
  const dir = join(stateRoot, "environments", env);
  const currentFile = join(dir, "current");
  if (!existsSync(currentFile)) return undefined;
  const seq = (JSON.parse(readFileSync(currentFile, "utf8")) as { sequence?: unknown }).sequence;
  if (typeof seq !== "number") return undefined;
  const compose = join(dir, "releases", String(seq), "compose.yaml");
  if (!existsSync(compose)) return undefined;
  const doc = parse(readFileSync(compose, "utf8")) as { "x-berth"?: { access?: unknown } } | null;
  const r = accessPolicySchema.safeParse(doc?.["x-berth"]?.access ?? { operators: [], commands: false });
  return r.success ? r.data : undefined;
}

/** The node's policy lookup: a release read once per sequence, not at every request. */
export function policyLookup(
  s: PolicySources,
): (t: AccessTarget) => TargetPolicy | undefined | Promise<TargetPolicy | undefined> {
  const cache = new Map<string, { key: string; policy: AccessPolicy | undefined }>();
  return (t) => {
    if (t.kind === "workspace") return s.workspace?.(t.id) ?? undefined;
    const currentFile = join(s.stateRoot, "environments", t.id, "current");
    if (!existsSync(currentFile)) return undefined;
    const key = readFileSync(currentFile, "utf8");
    const hit = cache.get(t.id);
    if (hit && hit.key === key) return hit.policy;
    const policy = environmentPolicy(s.stateRoot, t.id);
    cache.set(t.id, { key, policy });
    return policy;
  };
}
