// The program's side of Compose secrets: at preview it reads the values of the secrets that come
// from the project folder (file:) or a variable (environment:, the stack's or the project's .env),
// to hand them to the Release as secrets, sealed to the node like every berth secret.
import type { Manifest } from "../manifest/schema";
import { toVariables } from "./interpolate";
import { projectVariables } from "./load";
import { Problems } from "./problem";
import { diskProjectFiles, type ProjectFiles } from "./project-files";
import { composeSecretValues } from "./secrets";

export function readComposeSecretValues(
  manifest: Manifest,
  projectDir: string,
  variables: Record<string, string>,
  files: ProjectFiles = diskProjectFiles(projectDir),
): Record<string, string> {
  if (!manifest.secrets) return {};
  const vars = projectVariables(toVariables(variables), files, new Problems(".env"));
  return composeSecretValues(manifest.secrets, files, vars);
}
