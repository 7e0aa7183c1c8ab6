// The `x-berth` section of a rendered Compose file: what the agent reads besides Compose itself
// (networks and volumes it makes, secret variables, services in start order, backups). Declared
// once here in zod; the node parses it (never casts it), so a release signed with odd extras is
// refused with the path of what is wrong.
import * as z from "zod";
import { accessPolicySchema } from "../access/schema";
import { nodeBackupSchema } from "../backup/schema";
import { idSchema } from "../ids";
import { type Hook, hookSchema, MAX_REPLICAS } from "../manifest/schema";
import { formatIssues } from "../payload/sign";
import { unescapeDollars } from "./dollars";

/** Docker object names berth makes: `berth-<env>-<name>` style, no path or option characters. */
const dockerName = z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}$/, "not a Docker object name");
const absolutePath = z
  .string()
  .regex(/^\/(?!.*(^|\/)\.\.?(\/|$))[^\0]*$/, "not an absolute path without . or .. segments");

/** A plain name: a file's folder and name on the agent's tmpfs, never a path. */
const fileName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, "not a plain name");

const nodeFileSchema = z.strictObject({
  kind: z.enum(["secret", "config"]),
  service: fileName,
  /** The Compose secret or config name. */
  name: fileName,
  /** Secrets: the sealed secret that holds the value. */
  secret: z.string().min(1).optional(),
  /** Configs: the content. */
  content: z.string().optional(),
  uid: z
    .number()
    .int()
    .min(0)
    .max(2 ** 32 - 2),
  gid: z
    .number()
    .int()
    .min(0)
    .max(2 ** 32 - 2),
  mode: z.number().int().min(0).max(0o7777),
});

// Loose at the top and per service (a field a newer renderer adds passes through to the agent);
// strict where a field reaches the node: networks, volumes and their folders, backups.
export const nodeExtrasSchema = z.looseObject({
  environmentId: idSchema("the environment id"),
  sequence: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  networks: z.array(z.strictObject({ name: dockerName, internal: z.boolean() })),
  /** `device`: the folder bound into the Docker volume; `disk`: the block device under it. */
  volumes: z.array(
    z.strictObject({
      name: dockerName,
      device: absolutePath,
      disk: z
        .string()
        .regex(/^\/dev\/(?!.*\.\.)[A-Za-z0-9._:@+/-]+$/, "not a device path under /dev")
        .optional(),
    }),
  ),
  /** Secret name → the environment variable Compose reads it from. */
  secrets: z.record(
    z.string(),
    z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "not an environment variable name"),
  ),
  /** Services in start order, with the group they are updated in. */
  services: z.array(
    z.looseObject({
      name: z.string().min(1),
      updateOrder: z.enum(["start-first", "stop-first"]),
      ports: z.array(z.number().int().min(1).max(65_535)),
      /** How many containers of the service run (absent: one). */
      replicas: z.number().int().min(1).max(MAX_REPLICAS).optional(),
      /**
       * Lifecycle hooks the agent runs with `docker exec` (the node's Compose 2.26 does not run
       * them): in each new container after it started, in each old one before it is stopped.
       */
      postStart: z.array(hookSchema).optional(),
      preStop: z.array(hookSchema).optional(),
      /** How many of them are replaced at a time (absent or 0: all at once). */
      updateParallelism: z.number().int().min(0).optional(),
    }),
  ),
  /** Backups of the environment's volumes (no secret values: the secrets' names). */
  backup: nodeBackupSchema.optional(),
  /**
   * Files the agent writes on its tmpfs before Compose starts the services, each bound
   * read-only into its container: Compose secrets (the value is the sealed secret `secret`) and
   * configs (their `content`). Absent in releases that have none.
   */
  files: z.array(nodeFileSchema).optional(),
  /** The operators granted this environment and the node's command switch (contract/access). */
  access: accessPolicySchema.optional(),
});
export type NodeExtras = z.infer<typeof nodeExtrasSchema>;
export type NodeFile = z.infer<typeof nodeFileSchema>;

export class NodeExtrasError extends Error {}

/** Reads the `x-berth` extras from a rendered file's parsed document; throws with the paths of what is wrong. */
export function parseNodeExtras(doc: unknown): NodeExtras {
  const x = (doc as { "x-berth"?: unknown } | null)?.["x-berth"];
  if (!x || typeof x !== "object") {
    throw new NodeExtrasError("not a Compose file rendered by berth (no x-berth section)");
  }
  const r = nodeExtrasSchema.safeParse(x);
  if (!r.success)
    throw new NodeExtrasError(
      `x-berth of the rendered Compose file: ${formatIssues(r.error.issues).slice(0, 5).join("; ")}`,
    );
  return unescapeExtras(r.data);
}

/**
 * The free text of x-berth as the program meant it: hooks, backup hooks and configs' content are
 * rendered with `$` written `$$` (dollars.ts), since Compose interpolates extension fields too.
 */
function unescapeExtras(x: NodeExtras): NodeExtras {
  const u = unescapeDollars;
  const hook = (h: Hook): Hook => ({
    ...h,
    command: h.command.map(u),
    ...(h.user !== undefined ? { user: u(h.user) } : {}),
    ...(h.workingDir !== undefined ? { workingDir: u(h.workingDir) } : {}),
    environment: Object.fromEntries(Object.entries(h.environment).map(([k, v]) => [k, u(v)])),
  });
  const command = <T extends { command: string[] }>(h: T): T => ({ ...h, command: h.command.map(u) });
  return {
    ...x,
    services: x.services.map((s) => ({
      ...s,
      ...(s.postStart ? { postStart: s.postStart.map(hook) } : {}),
      ...(s.preStop ? { preStop: s.preStop.map(hook) } : {}),
    })),
    ...(x.backup
      ? {
          backup: {
            ...x.backup,
            volumes: x.backup.volumes.map((v) => ({
              ...v,
              ...(v.before ? { before: command(v.before) } : {}),
              ...(v.after ? { after: command(v.after) } : {}),
            })),
          },
        }
      : {}),
    ...(x.files
      ? { files: x.files.map((f) => (f.content !== undefined ? { ...f, content: u(f.content) } : f)) }
      : {}),
  };
}
