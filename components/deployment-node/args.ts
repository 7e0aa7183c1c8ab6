// The cloud nodes' arguments, validated with zod: each error names the argument and, for a
// choice, the allowed values (`location: "fsn9" is not a Hetzner location; use one of ...`).
import * as z from "zod";
import { idSchema } from "../../contract/ids";

export const HETZNER_LOCATIONS = ["fsn1", "nbg1", "hel1", "ash", "hil", "sin"] as const;
export const SCALEWAY_ZONES = [
  "fr-par-1",
  "fr-par-2",
  "fr-par-3",
  "nl-ams-1",
  "nl-ams-2",
  "nl-ams-3",
  "pl-waw-1",
  "pl-waw-2",
  "pl-waw-3",
] as const;

const choice = <T extends readonly [string, ...string[]]>(values: T, what: string) =>
  z.enum(values, {
    error: (iss) => `${JSON.stringify(iss.input)} is not ${what}; use one of ${values.join(", ")}`,
  });

const nodeId = idSchema("it names the server");

const allowSsh = z.object({ sources: z.array(z.string()).min(1, "list at least one CIDR") }).strict();

export const hcloudNodeArgsSchema = z
  .object({
    nodeId,
    role: z.enum(["deployment", "workspace"]).default("deployment"),
    /** e.g. cx22, cpx21, cax11 (Arm). */
    serverType: z.string().regex(/^[a-z]+\d+[a-z0-9-]*$/, 'a Hetzner server type like "cx22" or "cax11"'),
    location: choice(HETZNER_LOCATIONS, "a Hetzner location"),
    /** Names or ids of hcloud SSH keys injected at creation. */
    sshKeys: z.array(z.string().min(1)).default([]),
    allowSsh: allowSsh.optional(),
    /** Replace the server when its user data changes (default: no; see hcloud-node.ts). */
    replaceOnUserDataChange: z.boolean().default(false),
    deleteProtection: z.boolean().default(false),
  })
  .strict();

export const scalewayNodeArgsSchema = z
  .object({
    nodeId,
    role: z.enum(["deployment", "workspace"]).default("deployment"),
    /** e.g. DEV1-S, PLAY2-NANO, PRO2-XXS. */
    serverType: z
      .string()
      .regex(/^[A-Z0-9]+(-[A-Z0-9]+)+$/, 'a Scaleway commercial type like "DEV1-S" or "PRO2-XXS"'),
    zone: choice(SCALEWAY_ZONES, "a Scaleway zone"),
    allowSsh: allowSsh.optional(),
    /** The Scaleway project (default: the provider's). */
    projectId: z.string().optional(),
    rootVolumeSizeGb: z.number().int().min(10).max(10_000).default(20),
  })
  .strict();

export type HcloudNodeArgsPlain = z.input<typeof hcloudNodeArgsSchema>;
export type ScalewayNodeArgsPlain = z.input<typeof scalewayNodeArgsSchema>;

export class NodeArgsError extends Error {}

/** Parses `args` with `schema`; errors name `where` + the argument path. */
export function parseArgs<S extends z.ZodType>(schema: S, args: unknown, where: string): z.output<S> {
  const r = schema.safeParse(args);
  if (r.success) return r.data;
  const lines = r.error.issues.map((i) => {
    const path = i.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("");
    if (i.code === "unrecognized_keys") return `${where}${path}: unknown argument(s) ${i.keys.join(", ")}`;
    return `${where}${path}: ${i.message}`;
  });
  throw new NodeArgsError(lines.join("\n"));
}
