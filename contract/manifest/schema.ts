// The validated manifest: what a Compose file becomes after contract/compose has parsed,
// interpolated, normalized and validated it. The renderer and the node agent consume only this
// shape, never Compose's many syntaxes:
//
// - every list-or-map field is a map, every string-or-list command is a list of words;
// - durations are whole milliseconds (`...Ms`), memory sizes are bytes, CPUs a number;
// - volumes are named volumes only, declared at the top level;
// - `order` lists the services so that each comes after what it depends on.
//
// The schema is strict: a field it does not know is an error, so a manifest written by a newer
// berth is refused rather than half understood.
import * as z from "zod";
import { volumeBackupSchema } from "../backup/schema";
import {
  HOSTNAME_PATTERN,
  MANIFEST_FORMAT_VERSION,
  MAX_REPLICAS,
  NAME_PATTERN,
  SECRET_NAME_PATTERN,
} from "./patterns";

export { HOSTNAME_PATTERN, MANIFEST_FORMAT_VERSION, MAX_REPLICAS, NAME_PATTERN, SECRET_NAME_PATTERN };

/** Compose service, volume and network names. */
export const nameSchema = z.string().max(128).regex(NAME_PATTERN, "must be letters, digits, '.', '_' or '-'");

/** Secret names referenced with `{ x-berth-secret: NAME }`. */
export const secretNameSchema = z
  .string()
  .regex(SECRET_NAME_PATTERN, "must be 1-128 letters, digits, '.', '_' or '-'");

/** A lowercase host name; a leading `*.` label is a wildcard. */
export const hostnameSchema = z.string().max(253).regex(HOSTNAME_PATTERN, "must be a lowercase host name");

export const portSchema = z.number().int().min(1).max(65535);
const durationMs = z.number().int().nonnegative();
const bytes = z.number().int().positive();
const stringMap = z.record(z.string(), z.string());

/** An environment variable: a plain value, or a reference to a secret the agent injects. */
export const envValueSchema = z.union([
  z.strictObject({ value: z.string() }),
  z.strictObject({ secret: secretNameSchema }),
]);
export type EnvValue = z.infer<typeof envValueSchema>;

export const buildSchema = z.strictObject({
  /** The build context, relative to the project folder, POSIX separators, normalized (`.` is the folder itself). */
  context: z.string().refine((c) => c === "." || !(c.startsWith("/") || c.split("/").includes("..")), {
    message: "must stay inside the project folder",
  }),
  /** The Dockerfile, relative to the context, normalized. */
  dockerfile: z.string().min(1).optional(),
  args: stringMap,
  target: z.string().min(1).optional(),
  /** `build.platforms` (only the node's platform is accepted, so at most one). */
  platforms: z.array(z.string().min(1)).optional(),
  /** `dockerfile_inline`: the Dockerfile's text (then `dockerfile` is absent). */
  dockerfileInline: z.string().min(1).optional(),
  /**
   * Named build contexts: a folder inside the project (relative, normalized), or `service:NAME`,
   * the image another service of the file builds.
   */
  additionalContexts: z.record(z.string().min(1), z.string().min(1)).optional(),
  /** Labels on the built image. */
  labels: stringMap.optional(),
});
export type Build = z.infer<typeof buildSchema>;

export const volumeMountSchema = z.strictObject({
  /** A volume declared under the manifest's top-level `volumes`. */
  source: nameSchema,
  /** Absolute path in the container. */
  target: z.string().startsWith("/"),
  readOnly: z.boolean(),
  /** A path inside the volume to mount instead of its root (relative, no `..`). */
  subpath: z.string().min(1).optional(),
});
export type VolumeMount = z.infer<typeof volumeMountSchema>;

export const dependencyConditionSchema = z.enum([
  "service_started",
  "service_healthy",
  "service_completed_successfully",
]);

export const dependencySchema = z.strictObject({
  condition: dependencyConditionSchema,
  /** Restart this service when the dependency is updated. */
  restart: z.boolean(),
  /** When false, the service starts even if the dependency is absent or failed to start. */
  required: z.boolean(),
});
export type Dependency = z.infer<typeof dependencySchema>;

export const healthcheckSchema = z.strictObject({
  /**
   * `["CMD", exe, ...args]`, `["CMD-SHELL", script]` or `["NONE"]`; absent when only the timings
   * of the image's own HEALTHCHECK are changed. A string `test:` becomes `["CMD-SHELL", string]`.
   */
  test: z
    .array(z.string())
    .refine(
      (t) =>
        (t[0] === "NONE" && t.length === 1) ||
        (t[0] === "CMD" && t.length >= 2) ||
        (t[0] === "CMD-SHELL" && t.length === 2),
      { message: 'must be ["CMD", ...], ["CMD-SHELL", script] or ["NONE"]' },
    )
    .optional(),
  intervalMs: durationMs.optional(),
  timeoutMs: durationMs.optional(),
  retries: z.number().int().nonnegative().optional(),
  startPeriodMs: durationMs.optional(),
  startIntervalMs: durationMs.optional(),
  /** True for `disable: true` and for `test: ["NONE"]` (then `test` is `["NONE"]`). */
  disable: z.boolean(),
});
export type Healthcheck = z.infer<typeof healthcheckSchema>;

export const resourcesSchema = z.strictObject({
  limits: z
    .strictObject({
      cpus: z.number().positive().optional(),
      memory: bytes.optional(),
      pids: z.number().int().optional(),
    })
    .optional(),
  reservations: z
    .strictObject({ cpus: z.number().positive().optional(), memory: bytes.optional() })
    .optional(),
});
export type Resources = z.infer<typeof resourcesSchema>;

/** `no`, `always`, `unless-stopped`, `on-failure` or `on-failure:N`. */
export const restartSchema = z.string().regex(/^(no|always|unless-stopped|on-failure(:[0-9]+)?)$/);

/** The `x-berth-health` HTTP probe the agent runs before switching traffic to a new container. */
export const httpHealthSchema = z.strictObject({
  path: z.string().startsWith("/"),
  port: portSchema,
  status: z.number().int().min(100).max(599),
});
export type HttpHealth = z.infer<typeof httpHealthSchema>;

/** A Compose secret or config mounted as a file: read-only, with its owner and mode. */
export const fileMountSchema = z.strictObject({
  /** The top-level secret or config. */
  source: nameSchema,
  /** Absolute path in the container. */
  target: z.string().startsWith("/"),
  uid: z.number().int().nonnegative(),
  gid: z.number().int().nonnegative(),
  mode: z.number().int().min(0).max(0o7777),
});
export type FileMount = z.infer<typeof fileMountSchema>;

/**
 * A top-level Compose secret: the berth secret that holds its value (sealed to the node like
 * every berth secret), and where the program reads that value at preview when it comes from the
 * project (`file`, project-relative) or a variable (`variable`); `x-berth-secret` names a secret
 * of the stack.
 */
export const composeSecretSchema = z.strictObject({
  secret: secretNameSchema,
  file: z.string().min(1).optional(),
  variable: z.string().min(1).optional(),
});
export type ComposeSecret = z.infer<typeof composeSecretSchema>;

/** A `post_start` / `pre_stop` hook: a command run inside the service's container. */
export const hookSchema = z.strictObject({
  command: z.array(z.string()).min(1),
  user: z.string().min(1).optional(),
  workingDir: z.string().startsWith("/").optional(),
  environment: stringMap,
});
export type Hook = z.infer<typeof hookSchema>;

export const serviceSchema = z.strictObject({
  /** The image reference as written (after interpolation); pinned to a digest later. */
  image: z.string().min(1).optional(),
  build: buildSchema.optional(),
  /** Words, split like a POSIX shell splits a string `command:` (see compose/shell-words.ts). */
  command: z.array(z.string()).optional(),
  /** Words; `[]` clears the image's entrypoint. */
  entrypoint: z.array(z.string()).optional(),
  environment: z.record(z.string(), envValueSchema),
  volumes: z.array(volumeMountSchema),
  dependsOn: z.record(nameSchema, dependencySchema),
  healthcheck: healthcheckSchema.optional(),
  resources: resourcesSchema,
  /**
   * `deploy.update_config.order`. When not written: `stop-first` for a service that mounts a
   * writable named volume (two containers must never share a database's data), else `start-first`.
   */
  updateOrder: z.enum(["start-first", "stop-first"]),
  /**
   * `deploy.replicas` (or `scale`): how many containers of the service run, each a server of its
   * route's backend. Absent means one.
   */
  replicas: z.number().int().min(1).max(MAX_REPLICAS).optional(),
  /**
   * `deploy.update_config.parallelism`: how many replicas are replaced at a time (the new ones
   * serve before as many old ones are drained). Absent or 0: all at once.
   */
  updateParallelism: z.number().int().min(0).max(1_000_000).optional(),
  restart: restartSchema.optional(),
  /** `post_start`: run in each new container once it started (a failure fails the release). */
  postStart: z.array(hookSchema).optional(),
  /** `pre_stop`: run in each container before the agent stops it. */
  preStop: z.array(hookSchema).optional(),
  /** Container ports other services may reach, no host ports. */
  expose: z.array(portSchema),
  stopGracePeriodMs: durationMs.optional(),
  stopSignal: z.string().min(1).optional(),
  labels: stringMap.refine((l) => !Object.keys(l).some((k) => k.toLowerCase().startsWith("berth.")), {
    message: "labels with the berth. prefix are reserved",
  }),
  /** The user-defined networks the service joins (`default` when none is written), with aliases. */
  networks: z.record(nameSchema, z.strictObject({ aliases: z.array(z.string().min(1)) })),
  health: httpHealthSchema.optional(),
  // Harmless runtime settings, with Compose's meaning (they stay inside the container's own
  // namespaces): see docs/COMPOSE.md for the table of accepted and refused fields.
  /** `init: true`: an init process (tini) reaps zombies and forwards signals. */
  init: z.boolean().optional(),
  /** `user:` as written: `uid[:gid]` or names from the image's /etc/passwd. */
  user: z.string().min(1).optional(),
  workingDir: z.string().startsWith("/").optional(),
  readOnly: z.boolean().optional(),
  /** tmpfs mounts, `PATH[:OPTIONS]` as Compose writes them (their pages count against the memory limit). */
  tmpfs: z.array(z.string().startsWith("/")).optional(),
  shmSizeBytes: bytes.optional(),
  /** Resource limits of the container's processes, `soft` and `hard` (a single number sets both). */
  ulimits: z
    .record(z.string(), z.strictObject({ soft: z.number().int(), hard: z.number().int() }))
    .optional(),
  /** Capabilities dropped (adding them stays refused). */
  capDrop: z.array(z.string().min(1)).optional(),
  stdinOpen: z.boolean().optional(),
  tty: z.boolean().optional(),
  hostname: z.string().min(1).optional(),
  domainname: z.string().min(1).optional(),
  /** `/etc/hosts` entries, `HOST=IP` (never the node's own address). */
  extraHosts: z.array(z.string().min(1)).optional(),
  dns: z.array(z.string().min(1)).optional(),
  dnsSearch: z.array(z.string().min(1)).optional(),
  dnsOpt: z.array(z.string().min(1)).optional(),
  groupAdd: z.array(z.string().min(1)).optional(),
  /** Logs stay on the node: `json-file` or `local`, rotated (berth's defaults fill what is not given). */
  logging: z.strictObject({ driver: z.enum(["json-file", "local"]), options: stringMap }).optional(),
  /** `os/arch[/variant]`; only the node's own platform is accepted. */
  platform: z.string().min(1).optional(),
  /** Compose secrets mounted as files (on a tmpfs of the node, never on its disk). */
  secrets: z.array(fileMountSchema).optional(),
  /** Compose configs mounted as read-only files. */
  configs: z.array(fileMountSchema).optional(),
});
export type Service = z.infer<typeof serviceSchema>;

export const volumeSchema = z.strictObject({
  labels: stringMap,
  /** `x-berth-backup`: absent means "backed up like the environment says" when it declares backups. */
  backup: volumeBackupSchema.optional(),
});
export type Volume = z.infer<typeof volumeSchema>;

export const networkSchema = z.strictObject({ labels: stringMap, internal: z.boolean() });
export type Network = z.infer<typeof networkSchema>;

/** One `x-berth-routes` entry: public traffic for `host` (and `path`) goes to `service:port`. */
export const routeSchema = z.strictObject({
  service: nameSchema,
  port: portSchema,
  host: hostnameSchema,
  path: z.string().startsWith("/").optional(),
});
export type Route = z.infer<typeof routeSchema>;

/** A container port written under `ports:`; berth never publishes host ports. */
export const routeHintSchema = z.strictObject({ service: nameSchema, port: portSchema });
export type RouteHint = z.infer<typeof routeHintSchema>;

export const manifestSchema = z
  .strictObject({
    formatVersion: z.literal(MANIFEST_FORMAT_VERSION),
    services: z.record(nameSchema, serviceSchema),
    /** Every service once, each after the services it depends on; ties keep file order. */
    order: z.array(nameSchema),
    volumes: z.record(nameSchema, volumeSchema),
    networks: z.record(nameSchema, networkSchema),
    routes: z.array(routeSchema),
    routeHints: z.array(routeHintSchema),
    /** Top-level Compose secrets the services mount. */
    secrets: z.record(nameSchema, composeSecretSchema).optional(),
    /** Top-level Compose configs the services mount: their content, in the signed release. */
    configs: z.record(nameSchema, z.strictObject({ content: z.string() })).optional(),
    /** Top-level `x-` keys other than berth's own, after interpolation. */
    extensions: z.record(z.string().startsWith("x-"), z.unknown()),
  })
  .superRefine((m, ctx) => {
    const names = Object.keys(m.services);
    if (m.order.length !== names.length || !names.every((n) => m.order.includes(n))) {
      ctx.addIssue({ code: "custom", path: ["order"], message: "must list every service once" });
    }
    for (const [name, s] of Object.entries(m.services)) {
      if (!s.image && !s.build) {
        ctx.addIssue({ code: "custom", path: ["services", name], message: "needs image or build" });
      }
      for (const dep of Object.keys(s.dependsOn)) {
        if (!(dep in m.services)) {
          ctx.addIssue({
            code: "custom",
            path: ["services", name, "dependsOn", dep],
            message: "unknown service",
          });
        }
      }
      s.volumes.forEach((v, i) => {
        if (!(v.source in m.volumes)) {
          ctx.addIssue({
            code: "custom",
            path: ["services", name, "volumes", i],
            message: "undeclared volume",
          });
        }
      });
      for (const n of Object.keys(s.networks)) {
        if (n !== "default" && !(n in m.networks)) {
          ctx.addIssue({
            code: "custom",
            path: ["services", name, "networks", n],
            message: "undeclared network",
          });
        }
      }
    }
    m.routes.forEach((r, i) => {
      if (!(r.service in m.services)) {
        ctx.addIssue({ code: "custom", path: ["routes", i, "service"], message: "unknown service" });
      }
    });
  });
export type Manifest = z.infer<typeof manifestSchema>;

/** Parses a manifest that came from elsewhere (a file, the channel): throws a ZodError when invalid. */
export function parseManifest(value: unknown): Manifest {
  return manifestSchema.parse(value);
}
