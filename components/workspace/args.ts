// The Workspace component's arguments, checked before any resource is declared: each problem
// names the workspace, the argument and what to write instead.
import * as z from "zod";
import {
  backupTargetSchema,
  type Retention,
  repositoryUrl,
  retentionSchema,
  scheduleSchema,
} from "../../contract/backup/schema";
import { idSchema } from "../../contract/ids";
import { branchName, devcontainerConfigName, workspaceSource } from "../../contract/workspace/spec";

export class WorkspaceArgsError extends Error {}

export const workspaceArgsSchema = z
  .object({
    workspaceId: idSchema(),
    repository: workspaceSource.shape.repository,
    repositoryName: z
      .string()
      .regex(/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/, 'a name like "owner/name" (it names the images)')
      .optional(),
    branch: branchName.default("main"),
    defaultBranch: branchName.default("main"),
    devcontainerConfig: devcontainerConfigName.optional(),
    trusted: workspaceSource.shape.trusted.default(false),
    allowInitializeCommand: workspaceSource.shape.allowInitializeCommand.default(false),
    defaultImage: z
      .string()
      .min(1, "an image the node can pull (started when the repository has no usable config)"),
    nodeKeyTimeoutSeconds: z.number().int().positive().default(300),
  })
  .strict();
export type CheckedWorkspaceArgs = z.infer<typeof workspaceArgsSchema>;

/** `owner/name` of a repository URL or path (`https://host/acme/app.git` → `acme/app`). */
export function repositoryNameOf(repository: string): string {
  const parts = repository
    .replace(/\.git$/, "")
    .replace(/\/+$/, "")
    .split(/[/:]/)
    .filter((p) => p !== "");
  return parts.slice(-2).join("/") || "workspace";
}

export function checkWorkspaceArgs(name: string, raw: Record<string, unknown>): CheckedWorkspaceArgs {
  const r = workspaceArgsSchema.safeParse(raw);
  if (!r.success) {
    const lines = r.error.issues.map((i) => {
      const path = i.path.map(String).join(".") || "(args)";
      const got = i.path.length === 1 ? raw[String(i.path[0])] : undefined;
      return `Workspace ${name}: ${path}: ${i.message}${got !== undefined && i.code !== "unrecognized_keys" ? ` (got ${JSON.stringify(got)})` : ""}`;
    });
    throw new WorkspaceArgsError(lines.join("\n"));
  }
  return r.data;
}

/** A node that can host workspaces: role `workspace`, or a local node (development). */
export function checkWorkspaceNode(name: string, node: { role?: string; provider?: string }): void {
  if (node.role === "workspace" || node.provider === "local") return;
  throw new WorkspaceArgsError(
    `Workspace ${name}: node: the node has role ${JSON.stringify(node.role ?? "deployment")}; workspaces run on nodes of role "workspace" (set role: workspace on the DeploymentNode)`,
  );
}

/** A workspace's backup settings, checked, with their defaults (the environments' own). */
export const workspaceBackupSettings = z
  .object({
    target: backupTargetSchema,
    schedule: scheduleSchema.default("0 3 * * *"),
    retention: retentionSchema.default({ last: 3, daily: 7, weekly: 4, monthly: 6 }),
    pruneSchedule: scheduleSchema.default("30 4 * * *"),
    checkSchedule: scheduleSchema.default("0 5 * * 0"),
    restoreOnFirstStart: z.boolean().default(true),
  })
  .strict();

/**
 * The Workspace's `backup` argument as the provider takes it: the settings (the repository is the
 * workspace's own, `.../workspaces/<id>`) and the credentials, which stay Pulumi inputs (secrets).
 */
export function workspaceBackupInput<S>(
  workspaceId: string,
  b: {
    target: unknown;
    schedule?: string;
    retention?: Retention;
    pruneSchedule?: string;
    checkSchedule?: string;
    restoreOnFirstStart?: boolean;
    password: S;
    accessKeyId: S;
    secretAccessKey: S;
  },
) {
  const { password, accessKeyId, secretAccessKey, ...rest } = b;
  const r = workspaceBackupSettings.safeParse(rest);
  if (!r.success)
    throw new WorkspaceArgsError(
      r.error.issues
        .map((i) => `Workspace ${workspaceId}: backup.${i.path.map(String).join(".")}: ${i.message}`)
        .join("\n"),
    );
  const { target, ...s } = r.data;
  return {
    settings: { repository: repositoryUrl(target, `workspaces/${workspaceId}`), region: target.region, ...s },
    credentials: { password, accessKeyId, secretAccessKey },
  };
}
