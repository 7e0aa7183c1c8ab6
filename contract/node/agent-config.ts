// The agent's configuration (/etc/berth/agent.json on a node, written once by cloud-init; a
// file in the local node's state folder for the local target). What changes over time reaches
// the node through the release channel, not through this file. The program renders it
// (components/deployment-node/cloud-init.ts) and the agent reads it (node-agent/config.ts): the
// shape lives here, between them.
import * as z from "zod";
import { folderChannel, s3Location } from "../channel/access";
import { idSchema } from "../ids";

/** The isolated builder's defaults: the official BuildKit image (the release setup builds where nothing can be pulled), its network. */
/**
 * How long a new agent bundle has, on the node, to report before the node puts the previous one
 * back (upgrade.reportWithinSeconds), unless the agent's config says otherwise.
 */
export const DEFAULT_AGENT_TRIAL_SECONDS = 120;

/**
 * How long an upload in parts may send no part before it is dropped: its client sends the next
 * part at once, and its relay gives up on a client silent for 120 s (more than enough).
 */
export const DEFAULT_UPLOAD_ABANDON_SECONDS = 300;

export const ISOLATED_BUILDER_DEFAULTS = { image: "moby/buildkit:v0.13.2", network: "berth-builds" } as const;

const s3Channel = s3Location
  .extend({
    kind: z.literal("s3"),
    accessKeyId: z.string().min(1),
    /** A file holding the secret key (0600), never the key itself. */
    secretAccessKeyFile: z.string().min(1),
  })
  .strict();

export const agentConfigSchema = z
  .object({
    nodeId: idSchema(),
    stateRoot: z.string().default("/var/lib/berth"),
    /** Volumes live at <volumeRoot>/berth-env-<env>/volumes/<name>/data. */
    volumeRoot: z.string().default("/mnt"),
    channel: z.discriminatedUnion("kind", [folderChannel, s3Channel]),
    /**
     * Ed25519 public keys whose signatures on releases the node accepts until it accepts a signed
     * trust set from the channel (node-agent/trust/); may be empty when `trustRoots` is set.
     */
    trustedKeys: z.array(z.string().min(1)).default([]),
    /**
     * Ed25519 public keys that sign trust sets (the node's first roots; later ones come in trust
     * sets). Empty: the node's keys change only with this file.
     */
    trustRoots: z.array(z.string().min(1)).default([]),
    /**
     * A file holding the enrollment secret the program gave this node (0600): the node MACs its
     * identity document with it, so a channel writer cannot pass a key of theirs as the node's.
     */
    enrollmentSecretFile: z.string().min(1).optional(),
    pollIntervalSeconds: z.number().positive().default(10),
    /** The agent rewrites its signed statuses at least this often (its heartbeat). */
    heartbeatSeconds: z.number().positive().default(30),
    /** Each poll waits interval × (1 ± jitter). */
    pollJitter: z.number().min(0).max(1).default(0.2),
    healthTimeoutSeconds: z.number().int().positive().default(120),
    /**
     * A node group's leader: how long a release waits for the holders of its volumes to make them
     * ready (a cloud disk mounted) before it fails, nothing deployed (docs/swarm.md).
     */
    heldVolumesTimeoutSeconds: z.number().positive().default(300),
    /** How long a route's switch may wait for the old servers' open requests (never below 5 s). */
    drainSeconds: z.number().nonnegative().default(2),
    keepReleases: z.number().int().min(2).default(5),
    /** Cloud volumes: where their mounts are recorded, and how long a just-attached disk may take. */
    disks: z
      .object({
        fstabPath: z.string().default("/etc/fstab"),
        deviceTimeoutSeconds: z.number().positive().default(120),
      })
      .strict()
      .prefault({}),
    /** Devcontainer workspaces (nodes of role `workspace`). */
    workspaces: z
      .object({
        /** The devcontainer CLI (its devcontainer.js); the one beside the agent when absent. */
        devcontainerCli: z.string().min(1).optional(),
        /** The Docker Engine workspaces run on (DOCKER_HOST); the default one when absent. */
        dockerHost: z.string().min(1).optional(),
        /** Bound of the background cache push. */
        pushTimeoutSeconds: z.number().int().positive().default(600),
        /** Bound of one registry lookup request. */
        lookupTimeoutMs: z.number().int().positive().default(5000),
        /** Bound of one clone, pull, build or start. */
        stepTimeoutSeconds: z.number().int().positive().default(1800),
        /**
         * `berth workspace cp`: an upload in parts with none being written for this long is
         * dropped and its file beside the target removed (node-agent/access/upload-leftovers.ts).
         * At most 30 min: a sweep removes the folder's leftovers not written for an hour, and an
         * upload this agent holds open must never be one of them.
         */
        uploadAbandonSeconds: z.number().positive().max(1800).default(DEFAULT_UPLOAD_ABANDON_SECONDS),
        /**
         * Every untrusted build runs in a BuildKit container of its workspace's own
         * (node-agent/workspace/builder.ts): the BuildKit image (buildx pulls it, or takes the
         * engine's copy; setup's `buildkit` step makes it where nothing can be pulled) and the
         * bridge network the builders join. Trusted builds use Docker's own builder.
         */
        isolatedBuilder: z
          .object({
            image: z.string().min(1).default(ISOLATED_BUILDER_DEFAULTS.image),
            network: z
              .string()
              .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/, "a Docker network name")
              .default(ISOLATED_BUILDER_DEFAULTS.network),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    /**
     * Agent upgrades from the channel's signed bundle (node-agent/upgrade/): where the running
     * bundle is (replaced in place; default: the script this process runs), how the new one is
     * started (systemd: the agent exits and its unit, Restart=always, starts the new bundle; exec:
     * the agent starts it detached itself; auto: systemd when run by systemd), and how long the
     * new agent has to report before the previous one is put back.
     */
    upgrade: z
      .object({
        enabled: z.boolean().default(true),
        bundleKey: z.string().min(1).default("agent/berth-agent.js"),
        bundlePath: z.string().min(1).optional(),
        restart: z.enum(["auto", "systemd", "exec"]).default("auto"),
        reportWithinSeconds: z.number().positive().max(3600).default(DEFAULT_AGENT_TRIAL_SECONDS),
        /** Bound of `node BUNDLE version` on the downloaded bundle, before anything is swapped. */
        selfTestSeconds: z.number().positive().max(600).default(30),
      })
      .strict()
      .prefault({}),
    /** The restic binary backups run (Debian's package puts it on PATH). */
    resticPath: z.string().default("restic"),
    proxy: z
      .object({
        /** Where HAProxy listens for the app's traffic. */
        bind: z.string().default("0.0.0.0:80"),
        /** HAProxy's admin socket and config, under the state root unless given. */
        socket: z.string().optional(),
        configPath: z.string().optional(),
        /**
         * A TLS listener (cloud nodes): certificates arrive with releases and are loaded through
         * the runtime API. Absent: plain HTTP only (the local node).
         */
        tls: z
          .object({
            bind: z
              .string()
              .regex(/^(\*|[0-9.]+|\[?[0-9a-fA-F:]+\]?):\d{1,5}$/, "ADDRESS:PORT, e.g. 0.0.0.0:443"),
            /** Answer plain-HTTP requests with a redirect to HTTPS. */
            redirectHttp: z.boolean().default(false),
          })
          .strict()
          .optional(),
        /**
         * The systemd unit HAProxy runs in (cloud nodes: berth-haproxy.service,
         * contract/node/proxy-unit.ts); the agent starts and reloads it with systemctl. Absent:
         * the agent starts HAProxy itself, detached (the local node).
         */
        unit: z
          .string()
          .regex(/^[A-Za-z0-9@._-]+\.service$/, "a systemd service name, e.g. berth-haproxy.service")
          .optional(),
        /**
         * HAProxy's workers (what serves the traffic) drop to this user and its group after
         * binding; the access endpoint's socket is then that group's (0660 in a 0750 folder).
         */
        user: z
          .string()
          .regex(/^[a-z_][a-z0-9_-]*$/, "a user name, e.g. haproxy")
          .optional(),
        /**
         * Where the agent's access endpoint listens for HAProxy (default
         * <stateRoot>/access/agent.sock). With `user`, a folder of its own outside the state
         * root (which is root's alone), e.g. /run/berth-access/agent.sock.
         */
        accessSocket: z.string().startsWith("/", "an absolute path").optional(),
      })
      .strict()
      .default({ bind: "0.0.0.0:80" }),
  })
  .strict()
  .refine((c) => c.trustedKeys.length > 0 || c.trustRoots.length > 0, {
    path: ["trustedKeys"],
    message: "list at least one key (or trust roots in trustRoots, whose trust set names the keys)",
  });

export type AgentConfig = z.infer<typeof agentConfigSchema>;

export class AgentConfigError extends Error {}

export function parseAgentConfig(text: string, file: string): AgentConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new AgentConfigError(`${file}: not valid JSON: ${(e as Error).message}`);
  }
  const r = agentConfigSchema.safeParse(raw);
  if (r.success) return r.data;
  const lines = r.error.issues.map(
    (i) => `${file}: ${i.path.map(String).join(".") || "(top)"}: ${i.message}`,
  );
  throw new AgentConfigError(lines.join("\n"));
}
