// Compose text → manifest for a release, or every problem at once. Apart from build.ts (render,
// seal, sign), so `berth validate` loads the loader and nothing of the release it does not make.
import { loadCompose } from "../compose/load";
import { formatProblem, type Problem } from "../compose/problem";
import type { ProjectFiles } from "../compose/project-files";
import type { Manifest } from "../manifest/schema";

export class ComposeInvalidError extends Error {
  constructor(readonly problems: Problem[]) {
    super(problems.map(formatProblem).join("\n"));
    this.name = "ComposeInvalidError";
  }
}

export interface ValidateInput {
  composeText: string;
  /** The file name problems name. */
  file: string;
  projectDir?: string;
  variables?: Record<string, string>;
  /** The project folder's files (`.env`, env_file, ...); see LoadOptions.files. */
  files?: ProjectFiles;
  /** The node's platform; see LoadOptions.platform. */
  platform?: string;
}

/** Compose → manifest, or a ComposeInvalidError listing every problem. */
export function validateCompose(i: ValidateInput): { manifest: Manifest; warnings: Problem[] } {
  const r = loadCompose(i.composeText, {
    file: i.file,
    ...(i.projectDir ? { projectDir: i.projectDir } : {}),
    ...(i.variables ? { variables: i.variables } : {}),
    ...(i.files ? { files: i.files } : {}),
    ...(i.platform ? { platform: i.platform } : {}),
  });
  if (!r.ok) throw new ComposeInvalidError(r.problems);
  return { manifest: r.manifest, warnings: r.warnings };
}
