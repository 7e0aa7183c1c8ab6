// Compose → manifest: the public entry points.

export { checkNodeCompose, RENDERED_SERVICE_KEYS, SERVICE_REJECTED } from "./isolation";
export { type LoadOptions, type LoadResult, loadCompose } from "./load";
export { formatPath, formatProblem, type Problem } from "./problem";
export {
  diskProjectFiles,
  MAX_PROJECT_FILE_BYTES,
  memoryProjectFiles,
  type ProjectFiles,
} from "./project-files";
export { readComposeSecretValues } from "./secret-values";
export { composeSecretName } from "./secrets";
export { splitShellWords } from "./shell-words";
