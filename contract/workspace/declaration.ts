// A Workspace declaration: what the program (the `Workspace` component) publishes for a
// workspace node, and what the agent reads. Signed with the release-signing key (nodes trust
// only what that key signed), with the registry credentials sealed to the node's own key, bound
// to the workspace and the declaration's generation. Channel keys:
//
//   nodes/<node>/workspaces/<id>.json          program → the signed declaration
//   nodes/<node>/status/workspaces/<id>.json   node    → how the workspace is doing
import { sign, verify } from "node:crypto";
import * as z from "zod";
import { accessPolicySchema } from "../access/schema";
import { retentionSchema, scheduleSchema } from "../backup/schema";
import { backupStatus } from "../channel/status";
import { idSchema, isId } from "../ids";
import { canonicalBytes, canonicalJson } from "../payload/canonical";
import { fromBase64Url, toBase64Url } from "../payload/encoding";
import { type KeyInput, keyIdOf, loadSigningPrivateKey } from "../payload/keys";
import { sealedSecretSchema } from "../payload/schema";
import { type SecretBinding, seal, unseal } from "../payload/seal";
import { formatIssues } from "../payload/sign";
import type { TrustedKeys } from "../payload/verify";
import { workspaceSource } from "./spec";

export const WORKSPACE_FORMAT_VERSION = 1;
export const workspaceId = idSchema();

export const workspaceLimits = z
  .object({
    /** CPUs (fractions allowed), as `docker run --cpus`. */
    cpus: z.number().positive().max(1024).optional(),
    /** Memory in MiB, as `docker run --memory`. */
    memoryMb: z.number().int().min(64).max(4_194_304).optional(),
    /** Processes and threads, as `docker run --pids-limit`. */
    pids: z.number().int().min(16).max(4_194_304).optional(),
  })
  .strict();
export type WorkspaceLimits = z.infer<typeof workspaceLimits>;

/** What a workspace gets when its declaration says nothing. */
export const WORKSPACE_LIMIT_DEFAULTS: Required<WorkspaceLimits> = { cpus: 2, memoryMb: 4096, pids: 4096 };

/** A workspace over time: when it sleeps, how often it follows its branch. */
export const workspaceLifecycle = z
  .object({
    /**
     * Seconds with no session and no process activity after which the workspace is stopped, its
     * state kept; the next access starts it again. 0: never stopped for idleness.
     */
    idleTimeoutSeconds: z.number().int().min(0).max(2_592_000).optional(),
    /**
     * How often the agent fetches the branch (seconds); a new commit whose image differs is built in
     * the background and switched to at the next start, or when asked. 0: the branch is not followed.
     */
    followSeconds: z.number().int().min(0).max(86_400).optional(),
  })
  .strict();
export type WorkspaceLifecycle = z.infer<typeof workspaceLifecycle>;

/** What a workspace gets when its declaration says nothing: stopped after 30 idle minutes, fetched every 5. */
export const WORKSPACE_LIFECYCLE_DEFAULTS: Required<WorkspaceLifecycle> = {
  idleTimeoutSeconds: 1800,
  followSeconds: 300,
};

/**
 * The workspace's state (working tree and home) backed up with restic, as environments' volumes
 * are: one repository per workspace, two snapshot series (`tree`, `home`). The repository password
 * and bucket keys travel sealed to the node under BACKUP_SECRET_NAME.
 */
export const workspaceBackup = z
  .object({
    /** restic's repository: `s3:<endpoint>/<bucket>[/<prefix>]/workspaces/<id>`. */
    repository: z.string().min(1),
    region: z.string().min(1),
    /** When the tree and home are backed up (cron, UTC); also each time the workspace stops idle. */
    schedule: scheduleSchema,
    retention: retentionSchema,
    pruneSchedule: scheduleSchema,
    checkSchedule: scheduleSchema,
    /** A node without the workspace's state restores it from the newest snapshots before its first start. */
    restoreOnFirstStart: z.boolean(),
    /** `{ password, accessKeyId, secretAccessKey }` JSON sealed to the node's key. */
    credentials: sealedSecretSchema,
  })
  .strict();
export type WorkspaceBackup = z.infer<typeof workspaceBackup>;

export const workspaceDeclaration = z
  .object({
    formatVersion: z.literal(WORKSPACE_FORMAT_VERSION),
    workspaceId,
    nodeId: idSchema(),
    /** Increases with every change of the declaration (binds the sealed credentials). */
    generation: z.number().int().positive(),
    ...workspaceSource.shape,
    /** The container's limits (and an isolated build's); defaults: WORKSPACE_LIMIT_DEFAULTS. */
    limits: workspaceLimits.optional(),
    /** Idle stop and branch following; defaults: WORKSPACE_LIFECYCLE_DEFAULTS. */
    lifecycle: workspaceLifecycle.optional(),
    /** Backups of the tree and home; none when absent. */
    backup: workspaceBackup.optional(),
    /** The operators granted this workspace (shell, exec, files, ports; contract/access). */
    access: accessPolicySchema.optional(),
    registry: z
      .object({
        /** `host[:port]/path` where the devcontainer images live. */
        namespace: z.string().min(1),
        /**
         * The login builds get, `{ username, password }` JSON sealed to the node's key: it should
         * only pull, since an untrusted branch's build runs with it.
         */
        credentials: sealedSecretSchema.optional(),
        /** The login the agent itself pushes the cache with (never handed to a build). */
        pushCredentials: sealedSecretSchema.optional(),
      })
      .strict()
      .optional(),
    /**
     * A private repository's credential sealed to the node's key under GIT_SECRET_NAME:
     * `{ username, password }` JSON (the password a token), or `{ sshKey, knownHosts? }` (a
     * deploy key, `gitCredentialSchema`). git on the node and in the workspace asks the agent for
     * it (node-agent/workspace/git-credentials.ts); never written to a file.
     */
    gitCredential: sealedSecretSchema.optional(),
  })
  .strict();
export type WorkspaceDeclaration = z.infer<typeof workspaceDeclaration>;

export const workspaceEnvelope = z
  .object({ declaration: workspaceDeclaration, keyId: z.string().min(1), signature: z.string().min(1) })
  .strict();

export const workspaceKeys = {
  declaration: (node: string, id: string) => `nodes/${node}/workspaces/${workspaceId.parse(id)}.json`,
  declarationsPrefix: (node: string) => `nodes/${node}/workspaces/`,
  status: (node: string, id: string) => `nodes/${node}/status/workspaces/${workspaceId.parse(id)}.json`,
};

/** Workspace ids that have a declaration under a node's prefix. */
export function workspacesFromKeys(node: string, keys: readonly string[]): string[] {
  const prefix = workspaceKeys.declarationsPrefix(node);
  return keys
    .filter((k) => k.startsWith(prefix) && k.endsWith(".json"))
    .map((k) => k.slice(prefix.length, -".json".length))
    .filter(isId)
    .sort();
}

export const REGISTRY_SECRET_NAME = "registry-credentials";
export const REGISTRY_PUSH_SECRET_NAME = "registry-push-credentials";
export const GIT_SECRET_NAME = "git-credential";
export const BACKUP_SECRET_NAME = "backup-credentials";

export interface BackupCredentials {
  password: string;
  accessKeyId: string;
  secretAccessKey: string;
}

export function sealBackupCredentials(
  d: Pick<WorkspaceDeclaration, "workspaceId" | "nodeId" | "generation">,
  c: BackupCredentials,
  nodePublicKey: KeyInput,
) {
  return seal(JSON.stringify(c), nodePublicKey, credentialsBinding(d, BACKUP_SECRET_NAME));
}

/** The backup's repository password and bucket keys, when the declaration has a backup. */
export function unsealBackupCredentials(
  d: WorkspaceDeclaration,
  nodePrivateKey: KeyInput,
): BackupCredentials | undefined {
  if (!d.backup) return undefined;
  return z
    .object({
      password: z.string().min(1),
      accessKeyId: z.string().min(1),
      secretAccessKey: z.string().min(1),
    })
    .strict()
    .parse(
      JSON.parse(unseal(d.backup.credentials, nodePrivateKey, credentialsBinding(d, BACKUP_SECRET_NAME))),
    );
}

export interface RegistryLogin {
  username: string;
  password: string;
}

/** What a sealed registry credential is bound to: a box moved to another workspace fails to open. */
export function credentialsBinding(
  d: Pick<WorkspaceDeclaration, "workspaceId" | "nodeId" | "generation">,
  name: string = REGISTRY_SECRET_NAME,
) {
  return {
    environmentId: `workspace:${d.workspaceId}`,
    nodeId: d.nodeId,
    sequence: d.generation,
    name,
  } satisfies SecretBinding;
}

/** Seals a login (the build's, or with REGISTRY_PUSH_SECRET_NAME the agent's push login). */
export function sealRegistryLogin(
  d: Pick<WorkspaceDeclaration, "workspaceId" | "nodeId" | "generation">,
  login: RegistryLogin,
  nodePublicKey: KeyInput,
  name: string = REGISTRY_SECRET_NAME,
) {
  return seal(JSON.stringify(login), nodePublicKey, credentialsBinding(d, name));
}

/** Seals a git credential (a token or a deploy key) to the node, bound to the declaration. */
export function sealGitCredential(
  d: Pick<WorkspaceDeclaration, "workspaceId" | "nodeId" | "generation">,
  credential: SealedGitCredential,
  nodePublicKey: KeyInput,
) {
  return seal(
    JSON.stringify(gitCredentialSchema.parse(credential)),
    nodePublicKey,
    credentialsBinding(d, GIT_SECRET_NAME),
  );
}

export function unsealRegistryLogin(
  d: WorkspaceDeclaration,
  nodePrivateKey: KeyInput,
  which: "build" | "push" = "build",
): RegistryLogin | undefined {
  const box = which === "build" ? d.registry?.credentials : d.registry?.pushCredentials;
  if (!box) return undefined;
  const name = which === "build" ? REGISTRY_SECRET_NAME : REGISTRY_PUSH_SECRET_NAME;
  const parsed = z
    .object({ username: z.string(), password: z.string() })
    .parse(JSON.parse(unseal(box, nodePrivateKey, credentialsBinding(d, name))));
  return parsed;
}

/** What a sealed git credential holds: a token (HTTPS), or a deploy key and the host's known_hosts lines (SSH). */
export const gitCredentialSchema = z.union([
  z.object({ username: z.string().min(1), password: z.string().min(1) }).strict(),
  z.object({ sshKey: z.string().min(1), knownHosts: z.string().min(1).optional() }).strict(),
]);
export type SealedGitCredential = z.infer<typeof gitCredentialSchema>;

/** The private repository's credential, when the declaration carries one. */
export function unsealGitCredential(
  d: WorkspaceDeclaration,
  nodePrivateKey: KeyInput,
): SealedGitCredential | undefined {
  if (!d.gitCredential) return undefined;
  return gitCredentialSchema.parse(
    JSON.parse(unseal(d.gitCredential, nodePrivateKey, credentialsBinding(d, GIT_SECRET_NAME))),
  );
}

export class WorkspaceDeclarationError extends Error {}

/** `path: message` lines for a declaration that does not match the schema. */
export function checkDeclaration(value: unknown): WorkspaceDeclaration {
  const r = workspaceDeclaration.safeParse(value);
  if (!r.success) throw new WorkspaceDeclarationError(formatIssues(r.error.issues).join("; "));
  return r.data;
}

export function signWorkspace(declaration: WorkspaceDeclaration, signingKey: KeyInput): string {
  const d = checkDeclaration(declaration);
  const key = loadSigningPrivateKey(signingKey);
  const signature = toBase64Url(sign(null, canonicalBytes(d), key));
  return canonicalJson({ declaration: d, keyId: keyIdOf(key), signature });
}

/** Parses and verifies a published declaration for this node; throws WorkspaceDeclarationError. */
export function verifyWorkspace(
  text: string,
  o: { trustedKeys: TrustedKeys; nodeId: string; workspaceId: string },
): WorkspaceDeclaration {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new WorkspaceDeclarationError("the declaration is not JSON");
  }
  const r = workspaceEnvelope.safeParse(raw);
  if (!r.success) throw new WorkspaceDeclarationError(formatIssues(r.error.issues).slice(0, 5).join("; "));
  const { declaration, keyId, signature } = r.data;
  const key = o.trustedKeys.get(keyId);
  if (!key) throw new WorkspaceDeclarationError(`signed by key ${keyId}, which this node does not trust`);
  const sig = fromBase64Url(signature);
  if (!sig || !verify(null, canonicalBytes(declaration), key, sig))
    throw new WorkspaceDeclarationError(`the signature does not verify with trusted key ${keyId}`);
  if (declaration.nodeId !== o.nodeId)
    throw new WorkspaceDeclarationError(`the declaration is for node ${declaration.nodeId}, not ${o.nodeId}`);
  if (declaration.workspaceId !== o.workspaceId)
    throw new WorkspaceDeclarationError(
      `the declaration at workspace ${o.workspaceId} names workspace ${declaration.workspaceId}`,
    );
  return declaration;
}

// ---- Status ------------------------------------------------------------------------------------

export const workspacePhase = z.enum([
  "cloning",
  "pulling cache",
  "building",
  // An untrusted workspace's image label, checked against the allowlist before it starts.
  "checking",
  "starting",
  "pushing cache",
]);
export type WorkspacePhase = z.infer<typeof workspacePhase>;

export const phaseRecord = z.object({
  phase: workspacePhase,
  startedAt: z.string(),
  seconds: z.number().optional(),
  outcome: z.enum(["running", "ok", "failed", "timed-out"]),
  detail: z.string().optional(),
});
export type PhaseRecord = z.infer<typeof phaseRecord>;

export const workspaceStatus = z.object({
  formatVersion: z.literal(1),
  workspaceId,
  nodeId: z.string().optional(),
  generation: z.number().int().optional(),
  /** preparing: phases before the workspace runs; running: the container is up. */
  state: z.enum(["preparing", "running", "failed", "stopped"]),
  /** The phase under way (absent when none is). */
  phase: workspacePhase.optional(),
  /** exact-hit, cached-build, plain-build, compose, default-image. */
  mode: z.string().optional(),
  /** Why the workspace runs on another mode than planned (the build failed, the registry was down...). */
  fallbackReason: z.string().optional(),
  image: z.string().optional(),
  cacheKey: z.string().optional(),
  containerId: z.string().optional(),
  /** The kept build log (on the node) when a build ran. */
  buildLog: z.string().optional(),
  push: z.enum(["none", "pending", "done", "failed"]).default("none"),
  pushError: z.string().optional(),
  error: z.string().optional(),
  /** What an untrusted workspace asked for and was refused (the error says what to do). */
  refusals: z.array(z.object({ property: z.string(), source: z.string(), problem: z.string() })).optional(),
  phases: z.array(phaseRecord).default([]),
  /** Seconds from the start of `up` until the workspace ran. */
  secondsToRunning: z.number().optional(),
  /** The commit the agent put the working tree at (the clone, or the last switch to the branch). */
  commit: z.string().optional(),
  /** Why the workspace is stopped (state `stopped`), since when, and since when it had been idle. */
  stopped: z
    .object({ reason: z.literal("idle"), at: z.string(), idleSince: z.string() })
    .strict()
    .optional(),
  /** The tree's and home's backups (absent without a declared backup). */
  backup: backupStatus.optional(),
  /**
   * Following the branch: the commit the agent last fetched and what it made of it. `current`: the
   * tree is there; `preparing`: its image is being built; `ready`: built, switched to at the next
   * start or when asked; `held`: the tree cannot move there without touching local work (the
   * reason says what to do); `failed`: the build failed.
   */
  follow: z
    .object({
      commit: z.string(),
      /** When this commit was first fetched. */
      fetchedAt: z.string(),
      state: z.enum(["current", "preparing", "ready", "held", "failed"]),
      cacheKey: z.string().optional(),
      image: z.string().optional(),
      reason: z.string().optional(),
    })
    .strict()
    .optional(),
  updatedAt: z.string(),
});
export type WorkspaceStatus = z.infer<typeof workspaceStatus>;
