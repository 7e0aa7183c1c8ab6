// Compose → manifest: the public entry points.
export { type LoadOptions, type LoadResult, loadCompose } from "./load";
export { formatPath, formatProblem, type Problem } from "./problem";
export { splitShellWords } from "./shell-words";
export { checkNodeCompose, RENDERED_SERVICE_KEYS, SERVICE_REJECTED } from "./isolation";
