// The stack's configuration: one object, validated with zod at start. Pure (no Pulumi import),
// so every message can name the config key the user has to fix.
import * as z from "zod";
import { HETZNER_LOCATIONS, SCALEWAY_ZONES } from "../components/deployment-node/args";
import { workspaceBackupSettings } from "../components/workspace/args";
import { operatorSchema } from "../contract/access/schema";
import { BACKUP_SECRET_DEFAULTS, environmentBackupSchema } from "../contract/backup/schema";
import { idSchema } from "../contract/ids";
import { checkPlacement, nodeGroupSchema } from "../contract/swarm/placement";
import { workspaceLifecycle } from "../contract/workspace/declaration";
import { branchName, devcontainerConfigName, workspaceSource } from "../contract/workspace/spec";
import {
  knownHostsLines,
  parseSshDeployKey,
  SshKeyError,
  sshRepository,
} from "../contract/workspace/ssh-key";

/** A closed choice whose error names the allowed values (`"fsn9" is not a Hetzner location; use one of …`). */
const choice = <T extends readonly [string, ...string[]]>(values: T, what: string) =>
  z.enum(values, {
    error: (iss) =>
      iss.input === undefined
        ? `missing; use one of ${values.join(", ")}`
        : `${JSON.stringify(iss.input)} is not ${what}; use one of ${values.join(", ")}`,
  });

const SCALEWAY_REGIONS = ["fr-par", "nl-ams", "pl-waw"] as const;
const R2_LOCATIONS = ["apac", "eeur", "enam", "weur", "wnam", "oc"] as const;
const hex32 = (what: string) =>
  z.string().regex(/^[0-9a-f]{32}$/, `a Cloudflare ${what} (32 hex characters)`);
const uuid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, "a UUID");
const bucketName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/, "3-63 lowercase letters, digits and dashes");
const channelPrefix = z
  .string()
  .regex(
    /^([a-z0-9._-]+(\/[a-z0-9._-]+)*)?$/,
    'a key prefix like "prod" or "stacks/prod" ("" = the bucket root)',
  )
  .default("");
const nodeIdSchema = idSchema("it names the server");
const allowSsh = z.object({ sources: z.array(z.string()).min(1, "list at least one CIDR") }).strict();
const role = choice(["deployment", "workspace"] as const, "a node role");

/** berth:nodes[] on Hetzner Cloud. */
export const hcloudNodeConfigSchema = z
  .object({
    id: nodeIdSchema,
    provider: z.literal("hcloud"),
    role: role.default("deployment"),
    serverType: z.string().regex(/^[a-z]+\d+[a-z0-9-]*$/, 'a Hetzner server type like "cx22" or "cax11"'),
    location: choice(HETZNER_LOCATIONS, "a Hetzner location"),
    sshKeys: z.array(z.string().min(1)).default([]),
    allowSsh: allowSsh.optional(),
    deleteProtection: z.boolean().default(false),
    replaceOnUserDataChange: z.boolean().default(false),
    /** Deployment nodes: `berth run` and `berth exec` for granted operators (off by default). */
    commands: z.boolean().default(false),
  })
  .strict();

/** berth:nodes[] on Scaleway. */
export const scalewayNodeConfigSchema = z
  .object({
    id: nodeIdSchema,
    provider: z.literal("scaleway"),
    role: role.default("deployment"),
    serverType: z
      .string()
      .regex(/^[A-Z0-9]+(-[A-Z0-9]+)+$/, 'a Scaleway commercial type like "DEV1-S" or "PRO2-XXS"'),
    zone: choice(SCALEWAY_ZONES, "a Scaleway zone"),
    rootVolumeSizeGb: z.number().int().min(10).max(10_000).default(20),
    allowSsh: allowSsh.optional(),
    /** Deployment nodes: `berth run` and `berth exec` for granted operators (off by default). */
    commands: z.boolean().default(false),
  })
  .strict();

const nodeConfigSchema = z.discriminatedUnion(
  "provider",
  [hcloudNodeConfigSchema, scalewayNodeConfigSchema],
  { error: () => "use one of hcloud, scaleway" },
);

const volumeConfigSchema = z
  .object({
    /** The Compose volume it backs. */
    name: z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/, "a Compose volume name"),
    sizeGb: z.number().int().positive(),
    /** Scaleway only: 5000 or 15000. */
    iops: z.union([z.literal(5000), z.literal(15000)], { error: "use one of 5000, 15000" }).optional(),
    /** Keep the volume when its environment is removed (Pulumi protect; Hetzner delete protection). */
    protect: z.boolean().default(true),
    /** An environment on a node group: the group's node that holds the disk (its services are pinned there). */
    node: z.string().optional(),
  })
  .strict();

export const channelConfigSchema = z.discriminatedUnion(
  "kind",
  [
    z
      .object({
        kind: z.literal("r2"),
        bucket: bucketName,
        jurisdiction: choice(["default", "eu"] as const, "an R2 jurisdiction").default("default"),
        location: choice(R2_LOCATIONS, "an R2 location hint").optional(),
        prefix: channelPrefix,
      })
      .strict(),
    z
      .object({
        kind: z.literal("scaleway"),
        bucket: bucketName,
        region: choice(SCALEWAY_REGIONS, "a Scaleway region"),
        prefix: channelPrefix,
      })
      .strict(),
  ],
  { error: () => "use one of r2, scaleway" },
);

const registryPath = z
  .string()
  .regex(/^[a-z0-9]+([._/-][a-z0-9]+)*$/, "a lowercase registry path like acme/apps");

export const registryConfigSchema = z.discriminatedUnion(
  "kind",
  [
    z
      .object({
        kind: z.literal("cloudflare"),
        namespace: registryPath,
        pullExpirationMinutes: z
          .number()
          .int()
          .min(5)
          .default(7 * 24 * 60),
        pushExpirationMinutes: z
          .number()
          .int()
          .min(5)
          .default(24 * 60),
      })
      .strict(),
    z
      .object({
        kind: z.literal("oci"),
        host: z.string().regex(/^[a-z0-9.-]+(:\d+)?$/, "a registry host like ghcr.io"),
        namespace: registryPath,
        pullUsername: z.string().min(1),
        /** Default: pullUsername. */
        pushUsername: z.string().min(1).optional(),
      })
      .strict(),
    z
      .object({
        kind: z.literal("scaleway"),
        name: z.string().regex(/^[a-z0-9][a-z0-9-]{2,53}$/, "3-54 lowercase letters, digits and dashes"),
        region: choice(SCALEWAY_REGIONS, "a Scaleway region"),
      })
      .strict(),
  ],
  { error: () => "use one of cloudflare, oci, scaleway" },
);

const environmentId = idSchema();

const certificateName = idSchema();

export const environmentConfigSchema = z
  .object({
    /** The environment's id: names its containers, volumes and release channel entries. */
    name: environmentId,
    /** The Compose file, relative to the stacks/ folder. */
    compose: z.string().min(1),
    /** Values for ${VAR} in the Compose file (they win over the project folder's .env). */
    variables: z.record(z.string(), z.string()).default({}),
    /**
     * The active Compose profiles: services with profiles run only when one of them is listed
     * here (`*`: all). Without any, only services without profiles run, as with Compose.
     */
    profiles: z
      .array(
        z
          .string()
          .regex(/^(\*|[a-zA-Z0-9][a-zA-Z0-9_.-]*)$/, "a profile is letters, digits, '.', '_' or '-', or *"),
      )
      .default([]),
    /** Let services use images from outside the environment's registry namespace. */
    allowImagesOutsideNamespace: z.boolean().default(false),
    /** Cloud targets: the id of the node (berth:nodes[].id) that runs it. */
    node: z.string().optional(),
    /** Cloud targets, instead of node: the node group (berth:nodeGroups[].name) whose swarm runs it. */
    nodeGroup: z.string().optional(),
    /** Cloud targets: the route hosts that get a proxied DNS record (default: all of them). */
    hosts: z.array(z.string().min(1)).optional(),
    /** Cloud targets: storage for named Compose volumes. */
    volumes: z.array(volumeConfigSchema).default([]),
    /** Cloud targets with berth:cloudflare.zoneId: issue a Cloudflare Origin CA certificate for the route hosts. */
    originCertificate: z.boolean().default(false),
    /** Cloud targets: names in berth:certificates the node proxy serves for this environment. */
    certificates: z.array(certificateName).default([]),
    /**
     * Backups of the environment's volumes with restic to an S3 bucket: target { endpoint, bucket,
     * region, prefix }, schedule (cron, UTC), retention { last, daily, weekly, monthly, ... },
     * pruneSchedule, checkSchedule, restoreOnFirstApply, secrets (names in berth:secrets).
     */
    backup: environmentBackupSchema.optional(),
    /**
     * Roll back: publish the content of this earlier release sequence again as a new release
     * (`berth rollback ENV --to SEQ` sets it and runs pulumi up). Remove it to go forward again.
     */
    rollbackTo: z.coerce.number().int().positive().optional(),
  })
  .strict();

/** berth:workspaces[]: devcontainer workspaces on workspace nodes (components/workspace). */
export const workspaceConfigSchema = z
  .object({
    /** The workspace's id on its node. */
    name: environmentId,
    /** Cloud targets: the id of a node of role workspace (berth:nodes[].id). */
    node: z.string().optional(),
    /** What the node clones: a git URL (a local target may also use an absolute path). */
    repository: workspaceSource.shape.repository,
    branch: branchName.default("main"),
    /** The branch whose cache every build starts from. */
    defaultBranch: branchName.default("main"),
    /** A named config: .devcontainer/<name>/devcontainer.json. */
    devcontainerConfig: devcontainerConfigName.optional(),
    /** Builds may write the cache tags other builds read. */
    trusted: workspaceSource.shape.trusted.default(false),
    /** Run the config's initializeCommand on the node. */
    allowInitializeCommand: workspaceSource.shape.allowInitializeCommand.default(false),
    /** Started when the repository has no usable config (local: BERTH_BASE_IMAGE). */
    defaultImage: z.string().min(1).optional(),
    /**
     * A private repository's token: `secret` names an entry of berth:secrets, `username` what the
     * git host expects with a token (default x-access-token). Sealed to the node; git asks the
     * agent for it (the clone, lifecycle commands, fetches in the workspace); never in a file.
     */
    gitCredential: z
      .object({
        secret: z.string().min(1).optional(),
        username: z.string().min(1).default("x-access-token"),
        /**
         * Or a deploy key for an SSH repository: `deployKey` names an entry of berth:secrets
         * holding an unencrypted Ed25519 private key (ssh-keygen -t ed25519 -N ''), and
         * `knownHosts` the host's key as ssh-keyscan prints it (without it the node pins the key
         * its first clone sees). The agent signs with the key; it is never in a file.
         */
        deployKey: z.string().min(1).optional(),
        knownHosts: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
    /**
     * idleTimeoutSeconds: stopped (state kept) after this long with no session and no process
     * activity, started again by the next access; 0 never (default 1800). followSeconds: how often
     * the node fetches the branch and builds a changed devcontainer in the background; 0 never
     * (default 300).
     */
    lifecycle: workspaceLifecycle.optional(),
    /**
     * Backups of the working tree and home (restic, as environments' volumes): target { endpoint,
     * bucket, region, prefix } (repository <prefix>/workspaces/<name>), schedule (cron, UTC; and at
     * each idle stop), retention, pruneSchedule, checkSchedule, restoreOnFirstStart (default
     * true: a replacement node restores them before its first start), secrets (names in
     * berth:secrets, the environments' defaults).
     */
    backup: workspaceBackupSettings
      .extend({
        secrets: z
          .strictObject({
            password: z.string().default(BACKUP_SECRET_DEFAULTS.password),
            accessKeyId: z.string().default(BACKUP_SECRET_DEFAULTS.accessKeyId),
            secretAccessKey: z.string().default(BACKUP_SECRET_DEFAULTS.secretAccessKey),
          })
          .default(BACKUP_SECRET_DEFAULTS),
      })
      .optional(),
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
    /**
     * Cloud targets: TLS certificates for the node proxies, by name: a PEM bundle each
     * (certificate, chain, private key), e.g. a Cloudflare Origin CA certificate. Secret.
     */
    certificates: z.record(certificateName, z.string().min(1)).default({}),
    /** The registry namespace the environments' images live under. */
    registryNamespace: z
      .string()
      .regex(/^[a-z0-9]+([._/-][a-z0-9]+)*$/, "a lowercase registry path like acme/apps")
      .default("berth"),
    /** How long `pulumi up` waits for a node to apply a release. */
    releaseTimeoutSeconds: z.number().int().min(10).max(3600).default(300),
    /**
     * How long a new agent bundle (berth:agentBundle) has on a node to report before the node puts
     * the previous agent back; absent: the agent's own default (120 s). Set on the local target's
     * nodes; `pulumi up` waits for an agent rollout at least this long and 30 s more, so a bundle
     * that hangs fails it with the node's reason.
     */
    agentTrialSeconds: z.number().int().min(10).max(3600).optional(),
    /**
     * Local target: how long the local nodes' agents give a release's services to turn healthy
     * before they roll it back; absent: berth:releaseTimeoutSeconds, at most 120 s
     * (localHealthTimeoutSeconds). Apart from the release bound, so a short `pulumi up` wait does
     * not shorten the node's health checks. Cloud nodes keep the agent's 120 s.
     */
    healthTimeoutSeconds: z.number().int().min(5).max(3600).optional(),
    environments: z.array(environmentConfigSchema).min(1, "declare at least one environment"),
    /**
     * New keys of a node the operator accepts, by node id: the status key id (`ed25519:<32 hex>`)
     * that `pulumi preview` names when it refuses a node's changed identity.
     */
    acceptNodeKeys: z
      .record(
        z.string(),
        z.string().regex(/^ed25519:[0-9a-f]{32}$/, "the key id the refusal names, e.g. ed25519:0123…"),
      )
      .default({}),
    /** Extra Ed25519 public keys nodes trust besides the signing key's own (key rotation). */
    trustedKeys: z.array(z.string().min(1)).default([]),
    /**
     * Keys changed on running nodes through a signed trust set (stacks/trust-config.ts): rootKeys
     * go into the nodes' user data and sign trust sets (with berth:trustRootKey); releaseKeys
     * (default: the signing key's and berth:trustedKeys) sign releases; revoked keys (public keys
     * or key ids) are never trusted again. validityDays / renewBeforeDays: how long a published
     * set lasts and how early `pulumi up` renews it.
     */
    trust: z
      .object({
        rootKeys: z
          .array(z.string().min(1))
          .min(1, "list at least one root public key (berth keygen signing)"),
        releaseKeys: z.array(z.string().min(1)).min(1).optional(),
        revoked: z.array(z.string().min(1)).default([]),
        validityDays: z.number().int().min(2).max(365).default(30),
        renewBeforeDays: z.number().int().min(1).max(364).default(10),
      })
      .strict()
      .optional(),
    /** The root private key that signs the trust set (berth:trust). Secret. */
    trustRootKey: z.string().min(1).optional(),
    /**
     * The agent bundle the program publishes in the channel, signed (absolute, or relative to the
     * repository): running agents install it when its version is above theirs. Default on the
     * clouds: dist/berth-agent.js (`npm run build`); the local target publishes one only when set.
     */
    agentBundle: z.string().min(1).optional(),
    /**
     * The folder of the stargz tools' build the program publishes, signed, for cloud workspace
     * nodes (lazy pulling; absolute, or relative to the repository). Default on the clouds, when a
     * node has role workspace: $BERTH_CACHE/stargz/current (`npm run setup`); the local target
     * publishes them only when set.
     */
    stargzTools: z.string().min(1).optional(),
    /** Cloudflare account (R2 channel, managed registry) and the zone of the route hosts. */
    cloudflare: z
      .object({ accountId: hex32("account id"), zoneId: hex32("zone id").optional() })
      .strict()
      .optional(),
    /** Scaleway project, and the principal that runs `pulumi up` (kept in the channel's bucket policy). */
    scaleway: z
      .object({
        projectId: uuid,
        programPrincipal: z
          .string()
          .regex(/^(application_id|user_id):[0-9a-f-]{36}$/, '"application_id:<uuid>" or "user_id:<uuid>"')
          .optional(),
      })
      .strict()
      .optional(),
    channel: channelConfigSchema.optional(),
    /** The program's S3 credentials for the channel. Secret. */
    channelAccessKeyId: z.string().min(1).optional(),
    channelSecretAccessKey: z.string().min(1).optional(),
    registry: registryConfigSchema.optional(),
    /** kind oci: the registry passwords (tokens). Secret. */
    registryPullPassword: z.string().min(1).optional(),
    registryPushPassword: z.string().min(1).optional(),
    nodes: z.array(nodeConfigSchema).default([]),
    /**
     * Cloud targets: groups of nodes that form a Docker Swarm (contract/swarm/placement.ts): name,
     * nodes (ids from berth:nodes), managers (1 or 3 of them). Environments name one as nodeGroup.
     */
    nodeGroups: z.array(nodeGroupSchema).default([]),
    /**
     * local target: more nodes on this machine, each a berth-agent driving its own Docker Engine
     * (DOCKER_HOST, e.g. a swarm test bed's engine) with its HAProxy on 127.0.0.1:httpPort, and the
     * address that engine advertises to a swarm. Only node groups name them (berth:nodeGroups).
     */
    localNodes: z
      .array(
        z
          .object({
            id: idSchema(),
            dockerHost: z.string().regex(/^unix:\/\/\/.+/, "unix:///PATH of the engine's socket"),
            address: z.string().regex(/^(\d{1,3}\.){3}\d{1,3}$/, "an IPv4 address"),
            httpPort: z.number().int().min(1024).max(65535),
          })
          .strict(),
      )
      .default([]),
    workspaces: z.array(workspaceConfigSchema).default([]),
    /**
     * Who may get into environments and workspaces (berth logs, run, exec, workspace shell): a
     * name, an Ed25519 public key (berth keygen operator) and the environments and workspaces
     * granted ("*": all). Their keys reach the nodes signed, with each release and workspace.
     */
    operators: z.array(operatorSchema).max(256).default([]),
    /** local target: `berth run` and `berth exec` on the local node's environments (off by default). */
    localCommands: z.boolean().default(false),
  })
  .strict()
  .superRefine(crossChecks);

/** Keys that hold a credential: accepted only as secret config. */
export const SECRET_KEYS = [
  "signingKey",
  "trustRootKey",
  "secrets",
  "certificates",
  "channelAccessKeyId",
  "channelSecretAccessKey",
  "registryPullPassword",
  "registryPushPassword",
] as const;

const PROVIDER_OF_TARGET = { hetzner: "hcloud", scaleway: "scaleway" } as const;

type RawStack = {
  target: "local" | "hetzner" | "scaleway";
  environments: {
    name: string;
    node?: string | undefined;
    nodeGroup?: string | undefined;
    volumes: { name: string; node?: string | undefined }[];
    hosts?: string[] | undefined;
    certificates: string[];
    originCertificate: boolean;
    backup?: { secrets: Record<string, string> } | undefined;
  }[];
  certificates: Record<string, string>;
  secrets: Record<string, string>;
  nodes: {
    id: string;
    provider: "hcloud" | "scaleway";
    role: "deployment" | "workspace";
    commands: boolean;
  }[];
  nodeGroups: {
    name: string;
    nodes: string[];
    managers: string[];
    proxy?: { image: string; port: number } | undefined;
  }[];
  localNodes: { id: string; httpPort: number }[];
  localHttpPort?: number | undefined;
  healthTimeoutSeconds?: number | undefined;
  workspaces: {
    name: string;
    node?: string | undefined;
    defaultImage?: string | undefined;
    repository: string;
    gitCredential?:
      | { secret?: string | undefined; deployKey?: string | undefined; knownHosts?: string | undefined }
      | undefined;
    backup?: { secrets: Record<string, string> } | undefined;
  }[];
  operators: { name: string; publicKey: string; environments: string[]; workspaces: string[] }[];
  localCommands: boolean;
  channel?: { kind: "r2" | "scaleway" } | undefined;
  registry?: { kind: "cloudflare" | "oci" | "scaleway" } | undefined;
  cloudflare?: { zoneId?: string | undefined } | undefined;
  scaleway?: { programPrincipal?: string | undefined } | undefined;
  channelAccessKeyId?: string | undefined;
  channelSecretAccessKey?: string | undefined;
  registryPullPassword?: string | undefined;
};

/** Operators: names once, one key per operator, grants naming declared environments and workspaces. */
function checkOperators(c: RawStack, add: (path: (string | number)[], message: string) => void): void {
  const names = new Set<string>();
  const keys = new Map<string, string>();
  const envs = c.environments.map((e) => e.name);
  const wss = c.workspaces.map((w) => w.name);
  c.operators.forEach((o, i) => {
    if (names.has(o.name)) add(["operators", i, "name"], `${JSON.stringify(o.name)} is declared twice`);
    names.add(o.name);
    const other = keys.get(o.publicKey);
    if (other !== undefined)
      add(
        ["operators", i, "publicKey"],
        `is also operator ${other}'s key: give each operator a key of their own`,
      );
    keys.set(o.publicKey, o.name);
    const grants = [
      ["environments", o.environments, envs],
      ["workspaces", o.workspaces, wss],
    ] as const;
    for (const [what, list, known] of grants)
      list.forEach((g, j) => {
        if (g !== "*" && !known.includes(g))
          add(
            ["operators", i, what, j],
            `${JSON.stringify(g)} is not in berth:${what}; use one of ${[...known, "*"].map((k) => JSON.stringify(k)).join(", ")}`,
          );
      });
  });
  if (c.target !== "local" && c.localCommands)
    add(["localCommands"], "only for the local target (cloud nodes: berth:nodes[].commands)");
}

/** What one key needs from another; each problem names the key to fix. */
function crossChecks(c: RawStack, ctx: z.RefinementCtx): void {
  const add = (path: (string | number)[], message: string) => ctx.addIssue({ code: "custom", path, message });
  c.environments.forEach((e, i) => {
    if (e.originCertificate && (c.target === "local" || !c.cloudflare?.zoneId))
      add(
        ["environments", i, "originCertificate"],
        c.target === "local"
          ? "the local target serves plain HTTP; origin certificates are for cloud nodes behind Cloudflare"
          : "needs berth:cloudflare.zoneId (the zone whose hosts it covers)",
      );
    e.certificates.forEach((name, j) => {
      if (c.target === "local")
        add(
          ["environments", i, "certificates", j],
          "the local target serves plain HTTP; certificates are for cloud nodes",
        );
      else if (!(name in c.certificates))
        add(
          ["environments", i, "certificates", j],
          `no certificate ${JSON.stringify(name)} in berth:certificates; set it with \`pulumi config set --secret --path 'berth:certificates.${name}' "$(cat BUNDLE.pem)"\``,
        );
    });
    for (const [what, name] of Object.entries(e.backup?.secrets ?? {})) {
      if (!(name in c.secrets))
        add(
          ["environments", i, "backup", "secrets", what],
          `the secret ${name} is not set (pulumi config set --secret --path 'berth:secrets.${name}' VALUE)`,
        );
    }
  });
  checkOperators(c, add);
  const workspaceNames = new Set<string>();
  c.workspaces.forEach((w, i) => {
    if (workspaceNames.has(w.name))
      add(["workspaces", i, "name"], `${JSON.stringify(w.name)} is declared twice`);
    workspaceNames.add(w.name);
    for (const [what, name] of Object.entries(w.backup?.secrets ?? {})) {
      if (!(name in c.secrets))
        add(
          ["workspaces", i, "backup", "secrets", what],
          `the secret ${name} is not set (pulumi config set --secret --path 'berth:secrets.${name}' VALUE)`,
        );
    }
    if (w.gitCredential)
      checkGitCredential(w.repository, w.gitCredential, c.secrets, (p, m) =>
        add(["workspaces", i, "gitCredential", ...p], m),
      );
    if (c.target === "local") {
      if (w.node !== undefined)
        add(["workspaces", i, "node"], "only for cloud targets (the local node hosts them)");
      return;
    }
    const workspaceNodes = c.nodes.filter((n) => n.role === "workspace").map((n) => n.id);
    const use =
      workspaceNodes.length > 0
        ? `use one of ${workspaceNodes.join(", ")}`
        : "declare a node with role: workspace";
    if (w.node === undefined) add(["workspaces", i, "node"], `missing; ${use}`);
    else if (!workspaceNodes.includes(w.node))
      add(["workspaces", i, "node"], `${JSON.stringify(w.node)} is not a node of role workspace; ${use}`);
    if (w.defaultImage === undefined)
      add(
        ["workspaces", i, "defaultImage"],
        "missing: an image the node can pull, started when a repository has no usable devcontainer config",
      );
  });
  if (c.target === "local") {
    for (const k of ["nodes", "channel", "registry"] as const) {
      const v = c[k];
      if (Array.isArray(v) ? v.length > 0 : v !== undefined)
        add([k], "only for the hetzner and scaleway targets (the local target runs on this machine)");
    }
    // Node groups of local nodes (each its own Docker Engine on this machine).
    const ports = new Map<number, string>([[c.localHttpPort ?? 8088, "berth:localHttpPort"]]);
    const ids = new Set<string>(["local-1"]);
    c.localNodes.forEach((n, i) => {
      if (ids.has(n.id))
        add(["localNodes", i, "id"], `${JSON.stringify(n.id)} is declared twice (local-1 is the local node)`);
      ids.add(n.id);
      const other = ports.get(n.httpPort);
      if (other)
        add(
          ["localNodes", i, "httpPort"],
          `${n.httpPort} is also ${other}'s: give each node a port of its own`,
        );
      ports.set(n.httpPort, `localNodes[${i}]`);
    });
    for (const p of checkPlacement({
      nodeIds: c.localNodes.map((n) => n.id),
      nodesKey: "berth:localNodes",
      nodeGroups: c.nodeGroups,
      environments: c.environments,
    }))
      add(p.path, p.message);
    return;
  }
  c.localNodes.forEach((_, i) => {
    add(["localNodes", i], "only for the local target");
  });
  if (c.healthTimeoutSeconds !== undefined)
    add(
      ["healthTimeoutSeconds"],
      "only for the local target's nodes; cloud nodes keep the agent's 120 s (it would change their user data, which replaces them): remove it with `pulumi config rm berth:healthTimeoutSeconds`",
    );
  const provider = PROVIDER_OF_TARGET[c.target];
  if (c.nodes.length === 0) add(["nodes"], `declare at least one node (provider: ${provider})`);
  const ids = new Set<string>();
  c.nodes.forEach((n, i) => {
    if (n.provider !== provider)
      add(
        ["nodes", i, "provider"],
        `the ${c.target} target runs nodes of provider ${provider}, not ${n.provider}`,
      );
    if (ids.has(n.id)) add(["nodes", i, "id"], `${JSON.stringify(n.id)} is declared twice`);
    if (n.commands && n.role === "workspace")
      add(
        ["nodes", i, "commands"],
        "only for deployment nodes: on a workspace node, granted operators may always run commands",
      );
    ids.add(n.id);
  });
  if (!c.channel)
    add(["channel"], "missing; use kind r2 or scaleway (see stacks/Pulumi.<target>.example.yaml)");
  if (!c.registry) add(["registry"], "missing; use kind cloudflare, oci or scaleway");
  for (const k of ["channelAccessKeyId", "channelSecretAccessKey"] as const) {
    if (!c[k]) add([k], `missing (set it with \`pulumi config set --secret berth:${k} VALUE\`)`);
  }
  const needsCloudflare = c.channel?.kind === "r2" || c.registry?.kind === "cloudflare";
  if (needsCloudflare && !(c as { cloudflare?: unknown }).cloudflare)
    add(
      ["cloudflare", "accountId"],
      "missing: an r2 channel and the cloudflare registry need the account id",
    );
  const needsScaleway = c.channel?.kind === "scaleway" || c.registry?.kind === "scaleway";
  if (needsScaleway && !(c as { scaleway?: unknown }).scaleway)
    add(["scaleway", "projectId"], "missing: a scaleway channel or registry needs the project id");
  if (c.channel?.kind === "scaleway" && !c.scaleway?.programPrincipal)
    add(
      ["scaleway", "programPrincipal"],
      'missing: a scaleway channel keeps it in its bucket policy ("application_id:<uuid>" or "user_id:<uuid>")',
    );
  if (c.registry?.kind === "oci" && !c.registryPullPassword)
    add(
      ["registryPullPassword"],
      "missing (set it with `pulumi config set --secret berth:registryPullPassword VALUE`)",
    );
  c.environments.forEach((e, i) => {
    if (e.node === undefined && e.nodeGroup === undefined)
      add(
        ["environments", i, "node"],
        `missing; use one of ${[...ids].join(", ")}${c.nodeGroups.length > 0 ? ` (or nodeGroup: one of ${c.nodeGroups.map((g) => g.name).join(", ")})` : ""}`,
      );
    else if (e.node !== undefined && !ids.has(e.node))
      add(
        ["environments", i, "node"],
        `${JSON.stringify(e.node)} is not a node; use one of ${[...ids].join(", ")}`,
      );
    if (e.hosts && e.hosts.length > 0 && !c.cloudflare?.zoneId)
      add(["environments", i, "hosts"], "DNS records need berth:cloudflare.zoneId");
  });
  for (const p of checkPlacement({
    nodeIds: [...ids],
    nodeGroups: c.nodeGroups,
    environments: c.environments,
  }))
    add(p.path, p.message);
}

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

/** How long a local node gives a release's services to turn healthy (berth:healthTimeoutSeconds). */
export function localHealthTimeoutSeconds(
  c: Pick<StackConfig, "healthTimeoutSeconds" | "releaseTimeoutSeconds">,
): number {
  return c.healthTimeoutSeconds ?? Math.min(c.releaseTimeoutSeconds, 120);
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
export function parseStackConfig(
  all: Record<string, string>,
  stackFile: string,
  /** Which keys Pulumi holds as secrets, when the language host says (cloud targets insist). */
  isSecret?: (key: string) => boolean,
): StackConfig {
  const ns = "berth:";
  const values: Record<string, unknown> = {};
  for (const [key, raw] of Object.entries(all)) {
    if (key.startsWith(ns)) values[key.slice(ns.length)] = decodeValue(raw);
  }
  const r = stackConfigSchema.safeParse(values);
  if (r.success) {
    const plain =
      r.data.target === "local" || !isSecret
        ? []
        : SECRET_KEYS.filter((k) => k in values && !isSecret(`berth:${k}`));
    if (plain.length === 0) return r.data;
    throw new StackConfigError(
      plain.map(
        (k) =>
          `${stackFile}: berth:${k}: holds a credential in plain text; remove it and set it with \`pulumi config set --secret ${k === "secrets" || k === "certificates" ? `--path 'berth:${k}.NAME'` : `berth:${k}`} VALUE\``,
      ),
    );
  }
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

/** A workspace's git credential: a token for an https repository, or a deploy key for an SSH one. */
function checkGitCredential(
  repository: string,
  g: { secret?: string | undefined; deployKey?: string | undefined; knownHosts?: string | undefined },
  secrets: Record<string, string>,
  add: (path: (string | number)[], message: string) => void,
): void {
  if ((g.secret === undefined) === (g.deployKey === undefined)) {
    add([], "give either secret (a token, for an https:// repository) or deployKey (an SSH deploy key)");
    return;
  }
  const name = (g.secret ?? g.deployKey) as string;
  const key = g.secret !== undefined ? "secret" : "deployKey";
  if (!(name in secrets)) {
    add(
      [key],
      `the secret ${name} is not set (pulumi config set --secret --path 'berth:secrets.${name}' ${key === "secret" ? "TOKEN" : '"$(cat deploy_key)"'})`,
    );
  }
  if (g.secret !== undefined) {
    if (!/^https?:\/\//.test(repository))
      add(
        [],
        `a token is sent over HTTP(S): the repository must be an https:// URL (got ${JSON.stringify(repository)}); for an SSH URL give a deployKey`,
      );
    if (g.knownHosts !== undefined) add(["knownHosts"], "only with a deployKey (known_hosts are SSH's)");
    return;
  }
  if (!sshRepository(repository))
    add(
      [],
      `a deploy key is for an SSH repository: ssh://git@host/path.git or git@host:path.git (got ${JSON.stringify(repository)})`,
    );
  const value = secrets[name];
  if (value !== undefined)
    try {
      parseSshDeployKey(value);
    } catch (e) {
      // The message never quotes the key.
      if (e instanceof SshKeyError) add(["deployKey"], `the secret ${name}: ${e.message}`);
      else throw e;
    }
  if (g.knownHosts !== undefined)
    try {
      knownHostsLines(g.knownHosts);
    } catch (e) {
      if (e instanceof SshKeyError) add(["knownHosts"], e.message);
      else throw e;
    }
}
