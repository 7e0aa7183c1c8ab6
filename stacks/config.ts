// The stack's configuration: one object, validated with zod at start. Pure (no Pulumi import),
// so every message can name the config key the user has to fix.
import { z } from "zod";

const environmentId = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9-]{0,62}$/,
    "use 1-63 lowercase letters, digits and dashes, starting with a letter or digit",
  );

export const environmentConfigSchema = z
  .object({
    /** The environment's id: names its containers, volumes and release channel entries. */
    name: environmentId,
    /** The Compose file, relative to the stacks/ folder. */
    compose: z.string().min(1),
    /** Values for ${VAR} in the Compose file. */
    variables: z.record(z.string(), z.string()).default({}),
    /** Let services use images from outside the environment's registry namespace. */
    allowImagesOutsideNamespace: z.boolean().default(false),
  })
  .strict();

export const stackConfigSchema = z
  .object({
    target: z.enum(["local", "hetzner", "scaleway"]).default("local"),
    /** local target: the folder that holds the node's state, the channel and volumes. */
    localRoot: z.string().min(1).optional(),
    /** local target: the port of this machine where the apps answer (HAProxy). */
    localHttpPort: z.number().int().min(1024).max(65535).default(8088),
    /** The Ed25519 private key that signs releases (berth keygen signing). Secret. */
    signingKey: z
      .string()
      .min(1, 'set it with `pulumi config set --secret berth:signingKey "$(cat signing.key)"`'),
    /** Secret values referenced from Compose files with x-berth-secret, by name. Secret. */
    secrets: z.record(z.string(), z.string()).default({}),
    /** The registry namespace the environments' images live under. */
    registryNamespace: z
      .string()
      .regex(/^[a-z0-9]+([._/-][a-z0-9]+)*$/, "a lowercase registry path like acme/apps")
      .default("berth"),
    /** How long `pulumi up` waits for a node to apply a release. */
    releaseTimeoutSeconds: z.number().int().min(10).max(3600).default(300),
    environments: z.array(environmentConfigSchema).min(1, "declare at least one environment"),
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

/** `berth:environments[0].name` from a zod path. */
export function configKey(path: readonly PropertyKey[]): string {
  let out = "berth:";
  path.forEach((p, i) => {
    if (typeof p === "number") out += `[${p}]`;
    else out += i === 0 ? String(p) : `.${String(p)}`;
  });
  return out;
}

/**
 * Validates the `berth:*` keys of a stack's config (as `pulumi.runtime.allConfig()` returns them).
 * Throws a StackConfigError whose lines each name the key (`berth:target`) and what to do. Values
 * are never repeated in messages (some are secrets).
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
      const where = issue.path.length > 0 ? `${configKey(issue.path)}.` : "berth:";
      return issue.keys
        .map((k) =>
          issue.path.length > 0
            ? `${stackFile}: ${where}${k}: unknown key`
            : `${stackFile}: berth:${k}: unknown config key (known: ${known.map((n) => `berth:${n}`).join(", ")})`,
        )
        .join("\n  ");
    }
    const key = configKey(issue.path);
    const missing = issue.code === "invalid_type" && issue.message.includes("undefined");
    return missing
      ? `${stackFile}: ${key}: missing (set it with \`pulumi config set ${key.includes("[") ? "--path " : ""}${key} VALUE\`)`
      : `${stackFile}: ${key}: ${issue.message}`;
  });
  throw new StackConfigError(problems);
}
