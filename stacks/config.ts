// The stack's configuration: one object, validated with zod at start. Pure (no Pulumi import),
// so every message can name the config key the user has to fix.
import { z } from "zod";

export const stackConfigSchema = z
  .object({
    target: z.enum(["local", "hetzner", "scaleway"]).default("local"),
    /** local target: the folder that holds the node's state, the channel and volumes. */
    localRoot: z.string().min(1).optional(),
  })
  .strict();

export type StackConfig = z.infer<typeof stackConfigSchema>;

export class StackConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid stack configuration:\n${problems.map((p) => `  ${p}`).join("\n")}`);
    this.name = "StackConfigError";
  }
}

/** Decode one config value as Pulumi stores it: JSON for objects, numbers and booleans, else a string. */
function decodeValue(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/**
 * Validates the `berth:*` keys of a stack's config (as `pulumi.runtime.allConfig()` returns them).
 * Throws a StackConfigError whose lines each name the key (`berth:target`) and what to do.
 */
export function parseStackConfig(all: Record<string, string>, stackFile: string): StackConfig {
  const ns = "berth:";
  const values: Record<string, unknown> = {};
  for (const [key, raw] of Object.entries(all)) {
    if (key.startsWith(ns)) values[key.slice(ns.length)] = decodeValue(raw);
  }
  const r = stackConfigSchema.safeParse(values);
  if (r.success) return r.data;
  const known = Object.keys(stackConfigSchema.shape);
  const problems = r.error.issues.map((issue) => {
    if (issue.code === "unrecognized_keys") {
      return issue.keys
        .map(
          (k) =>
            `${stackFile}: berth:${k}: unknown config key (known: ${known.map((n) => `berth:${n}`).join(", ")})`,
        )
        .join("\n  ");
    }
    const key = `berth:${issue.path.map(String).join(".")}`;
    return `${stackFile}: ${key}: ${issue.message} (set it with \`pulumi config set ${key} VALUE\`)`;
  });
  throw new StackConfigError(problems);
}
