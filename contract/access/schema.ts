// Interactive access to a node (issue 20): who may get in (operators and their grants, declared in
// the stack) and the short-lived token the `berth` CLI signs with an operator's private key for
// one request. The token carries the request itself, so the node acts on nothing it did not verify.
// Format: contract/access/FORMAT.md.
import * as z from "zod";
import { idSchema } from "../ids";
import { publicKeyTextSchema } from "../trust/schema";

/** Separates an access token's signed bytes from every other signed object of berth. */
export const ACCESS_TOKEN_DOMAIN = "berth/access-token/v1";
/** The longest a token may live (expiresAt − issuedAt). */
export const MAX_TOKEN_LIFETIME_SECONDS = 300;
/** The lifetime the CLI gives a token. */
export const DEFAULT_TOKEN_LIFETIME_SECONDS = 60;
/** Clocks of the operator's machine and the node may differ by this much. */
export const CLOCK_SKEW_SECONDS = 30;
/** The longest token header the node reads (a command line of a few KiB fits many times). */
export const MAX_TOKEN_TEXT_BYTES = 32 * 1024;

const id = idSchema();
export const operatorNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, "1-63 lowercase letters, digits, dots, dashes and underscores");

/** A grant: the ids of environments (or workspaces) the operator may enter; "*" is every one. */
const grantList = z.array(z.union([z.literal("*"), id])).max(256);

export const operatorSchema = z.strictObject({
  name: operatorNameSchema,
  /** Ed25519 public key, raw 32 bytes in base64url (`berth keygen signing` prints one). */
  publicKey: publicKeyTextSchema,
  environments: grantList.default([]),
  workspaces: grantList.default([]),
});
export type Operator = z.infer<typeof operatorSchema>;
export type OperatorInput = z.input<typeof operatorSchema>;

export const targetKindSchema = z.enum(["environment", "workspace"]);
export type TargetKind = z.infer<typeof targetKindSchema>;
export const targetSchema = z.strictObject({ kind: targetKindSchema, id });
export type AccessTarget = z.infer<typeof targetSchema>;

const argv = z.array(z.string().max(16_384)).min(1, "name a command").max(256);
const service = z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/, "a Compose service name");
const size = z.number().int().min(1).max(1000);

/** Each action and what it asks for; the action also decides which grant and switch it needs. */
export const requestSchemas = {
  /** Containers' logs of an environment (one service, or all), across releases and replicas. */
  logs: z.strictObject({
    service: service.optional(),
    follow: z.boolean().default(false),
    /** A duration (`10m`, `2h`) or an RFC 3339 time, as `docker logs --since` takes it. */
    since: z
      .string()
      .regex(
        /^(\d+(s|m|h)|\d{4}-\d{2}-\d{2}T[0-9:.]+(Z|[+-]\d{2}:\d{2}))$/,
        "a duration like 10m or an RFC 3339 time",
      )
      .optional(),
    tail: z.number().int().min(0).max(100_000).optional(),
  }),
  /** A one-off container of the service's release image, environment and networks. */
  run: z.strictObject({ service, command: argv, tty: z.boolean().default(false) }),
  /** A command inside a running container of the service. */
  exec: z.strictObject({ service, command: argv, tty: z.boolean().default(false) }),
  /** An interactive terminal in a workspace (pty). */
  shell: z.strictObject({ cols: size.default(80), rows: size.default(24) }),
  /** A command in a workspace. */
  "workspace-exec": z.strictObject({ command: argv, tty: z.boolean().default(false) }),
  /** Read a file of the workspace (a path inside its working tree or the remote user's home). */
  "file-read": z.strictObject({ path: z.string().min(1).max(4096) }),
  /** Write a file of the workspace. */
  "file-write": z.strictObject({
    path: z.string().min(1).max(4096),
    mode: z.number().int().min(0).max(0o777).optional(),
    /**
     * The body's size in bytes (the whole file's, or this part's): the node's splice relay then
     * writes it as the remote user (node-agent/access/splice-relay.ts).
     */
    size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
    /**
     * A part of a larger upload (protocol 7; all three or none): where this part's bytes start in
     * the file, the whole file's size, and the upload's id (the parts of one upload share it). Each
     * part is one request whose body stays under a proxy's cap (Cloudflare's 100 MB); the last one,
     * sent once the others landed, makes the file whole.
     */
    offset: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
    total: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
    upload: z
      .string()
      .regex(/^[0-9a-f]{32}$/, "16 random bytes in hex")
      .optional(),
  }),
  /** A TCP stream to a port inside the workspace. */
  port: z.strictObject({ port: z.number().int().min(1).max(65535) }),
  /** The workspace's snapshots in its backup repository, one set (tree, home, notes) per backup. */
  "workspace-snapshots": z.strictObject({}),
  /** Restores a snapshot set; the current state is backed up first (protocol 4). */
  "workspace-restore": z.strictObject({
    snapshot: z.string().regex(/^[0-9a-f]{4,64}$/, "a snapshot id (hex, 4 to 64 characters)"),
  }),
  /**
   * Moves the workspace to its branch's newest commit now: fetched, its image built when its
   * devcontainer changed, the tree fast-forwarded (protocol 5). `branch`, when given, must be the
   * branch the stack declares (another one is the stack's decision: its trust and cache follow it).
   */
  "workspace-switch": z.strictObject({
    branch: z
      .string()
      .min(1)
      .max(255)
      .regex(/^[^\s~^:?*[\\]+$/, "a git branch name")
      .optional(),
  }),
} as const;
export type AccessAction = keyof typeof requestSchemas;
export const ACCESS_ACTIONS = Object.keys(requestSchemas) as AccessAction[];
export type AccessRequest<A extends AccessAction = AccessAction> = z.output<(typeof requestSchemas)[A]>;

/** Which target kind each action applies to. */
export const ACTION_TARGET: Record<AccessAction, TargetKind> = {
  logs: "environment",
  run: "environment",
  exec: "environment",
  shell: "workspace",
  "workspace-exec": "workspace",
  "file-read": "workspace",
  "file-write": "workspace",
  port: "workspace",
  "workspace-snapshots": "workspace",
  "workspace-restore": "workspace",
  "workspace-switch": "workspace",
};

/** Actions that run a command on a deployment node: off unless the stack turns them on there. */
export const COMMAND_ACTIONS: readonly AccessAction[] = ["run", "exec"];

export const accessTokenPayloadSchema = z.strictObject({
  domain: z.literal(ACCESS_TOKEN_DOMAIN),
  operator: operatorNameSchema,
  /** The key id of the operator's public key (`ed25519:` + 32 hex). */
  keyId: z.string().regex(/^ed25519:[0-9a-f]{32}$/),
  node: id,
  target: targetSchema,
  action: z.enum(ACCESS_ACTIONS as [AccessAction, ...AccessAction[]]),
  /** The request, validated against the action's schema by the node. */
  request: z.record(z.string(), z.unknown()),
  issuedAt: z.iso.datetime(),
  expiresAt: z.iso.datetime(),
  /** 16 random bytes, base64url: a node accepts each nonce once. */
  nonce: z.string().regex(/^[A-Za-z0-9_-]{22}$/, "16 random bytes in base64url"),
});
export type AccessTokenPayload = z.infer<typeof accessTokenPayloadSchema>;

export const accessTokenSchema = z.strictObject({
  payload: accessTokenPayloadSchema,
  /** Ed25519 over the canonical JSON (RFC 8785) of the payload, base64url. */
  signature: z.string().regex(/^[A-Za-z0-9_-]{86}$/, "64 bytes in base64url"),
});
export type AccessToken = z.infer<typeof accessTokenSchema>;

/** What the node enforces for one target, from what the program signed. */
export interface TargetPolicy {
  operators: readonly Operator[];
  /** Deployment targets: `run` and `exec` allowed (the stack turned commands on for the node). */
  commands: boolean;
}

/** Every reason a node refuses a token; each has its own test. */
export type AccessRefusalCode =
  | "MALFORMED"
  | "UNKNOWN_OPERATOR"
  | "BAD_SIGNATURE"
  | "EXPIRED"
  | "NOT_YET_VALID"
  | "TOO_LONG_LIVED"
  | "WRONG_NODE"
  | "WRONG_TARGET"
  | "WRONG_ACTION"
  | "NO_SUCH_TARGET"
  | "NO_GRANT"
  | "COMMANDS_OFF"
  | "REPLAYED"
  | "BUSY";

/** HTTP status of each refusal. */
export const REFUSAL_STATUS: Record<AccessRefusalCode, number> = {
  MALFORMED: 400,
  UNKNOWN_OPERATOR: 401,
  BAD_SIGNATURE: 401,
  EXPIRED: 401,
  NOT_YET_VALID: 401,
  TOO_LONG_LIVED: 401,
  WRONG_NODE: 403,
  WRONG_TARGET: 403,
  WRONG_ACTION: 403,
  NO_SUCH_TARGET: 404,
  NO_GRANT: 403,
  COMMANDS_OFF: 403,
  REPLAYED: 401,
  BUSY: 503,
};

/**
 * What the program signs for one target (in an environment's release, `x-berth.access`, and in a
 * workspace's declaration): the operators that may enter it and, for an environment, whether
 * commands are on for its node.
 */
export const accessPolicySchema = z.strictObject({
  operators: z.array(operatorSchema).max(256).default([]),
  commands: z.boolean().default(false),
});
export type AccessPolicy = z.output<typeof accessPolicySchema>;
export type AccessPolicyInput = z.input<typeof accessPolicySchema>;
