// The Workspace component's arguments, checked before any resource is declared: each problem
// names the workspace, the argument and what to write instead.
import { z } from "zod";
import { branchName } from "../../contract/workspace/declaration";

export class WorkspaceArgsError extends Error {}

const ID = /^[a-z0-9][a-z0-9-]{0,62}$/;

export const workspaceArgsSchema = z
  .object({
    workspaceId: z.string().regex(ID, "use 1-63 lowercase letters, digits and dashes"),
    repository: z
      .string()
      .min(1)
      .refine(
        (r) =>
          /^(https?|ssh|git|file):\/\/\S+$/.test(r) || /^[\w.-]+@[\w.-]+:\S+$/.test(r) || r.startsWith("/"),
        "a git URL (https://, ssh://, git@host:owner/name, file://) or an absolute path",
      ),
    repositoryName: z
      .string()
      .regex(/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/, 'a name like "owner/name" (it names the images)')
      .optional(),
    branch: branchName.default("main"),
    defaultBranch: branchName.default("main"),
    devcontainerConfig: z
      .string()
      .regex(/^[A-Za-z0-9._-]+$/, "the name of a folder under .devcontainer/ (no slashes)")
      .optional(),
    trusted: z.boolean().default(false),
    allowInitializeCommand: z.boolean().default(false),
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
