// What a workspace is, declared once: the fields that the stack config (berth:workspaces), the
// Workspace component's args, its dynamic provider and the signed declaration the node reads
// all share. Each of them takes its fields from here and adds its own (defaults, the node, the
// channel, the generation).
import * as z from "zod";

/** A git ref name as `git check-ref-format --branch` would take it (the usual subset). */
export const branchName = z
  .string()
  .min(1)
  .max(200)
  .regex(
    /^(?!-)(?!.*\.\.)(?!.*\/\/)(?!.*@\{)(?!.*\.lock$)(?!.*\/$)[^\s~^:?*[\\\p{Cc}]+$/u,
    "not a valid git branch name",
  );

/** What git clones: a URL (https, ssh, git, file, or scp-like) or, for local nodes, an absolute path. */
export const repositoryLocation = z
  .string()
  .min(1)
  .refine(
    (r) => /^(https?|ssh|git|file):\/\/\S+$/.test(r) || /^[\w.-]+@[\w.-]+:\S+$/.test(r) || r.startsWith("/"),
    "a git URL (https://, ssh://, git@host:owner/name, file://) or an absolute path",
  );

/** A named config: the folder of `.devcontainer/<name>/devcontainer.json`. */
export const devcontainerConfigName = z
  .string()
  .regex(/^[A-Za-z0-9._-]+$/, "the name of a folder under .devcontainer/ (no slashes)");

export const workspaceSource = z.object({
  repository: repositoryLocation,
  /** The repository's name in image names (`owner/name`). */
  repositoryName: z.string().min(1),
  branch: branchName,
  /** The branch whose cache every build starts from. */
  defaultBranch: branchName,
  /** A named config; the default one when absent. */
  config: devcontainerConfigName.optional(),
  /** Trusted builds write the cache tags other builds read. */
  trusted: z.boolean(),
  /** initializeCommand runs on the node itself: only when this says so. */
  allowInitializeCommand: z.boolean(),
  /** Started when the repository has no devcontainer config, or its build fails. */
  defaultImage: z.string().min(1),
});
export type WorkspaceSource = z.infer<typeof workspaceSource>;
