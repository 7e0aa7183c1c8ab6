import { dirname, resolve } from "node:path";
// The loader's own files, not contract/compose's index (which also exports the node's check) nor
// release/build (render, seal, sign): a `berth validate` process initializes only what it runs.
import { formatProblem } from "../../contract/compose/problem";
import { diskProjectFiles } from "../../contract/compose/project-files";
import { ComposeInvalidError, validateCompose } from "../../contract/release/validate";
import { keyValues, parse } from "../args";
import { type Io, UsageError } from "../io";

export const VALIDATE_USAGE = `usage: berth validate FILE [--var NAME=VALUE ...] [--project-dir DIR] [--platform linux/arm64]

Checks a Compose file against what berth deploys and prints the validated manifest as JSON.
Every problem is printed as FILE:LINE:COL PATH: message; the exit code is 2 when there is one.
Variables for \${NAME} come from the project folder's .env and from --var (which wins), never
from the environment. --platform names the node's platform (default linux/amd64).`;

export const composeOptions = {
  var: { type: "string", multiple: true },
  "project-dir": { type: "string" },
  platform: { type: "string" },
} as const;

/** Reads and validates FILE (shared by validate, render and sign). */
export function loadManifest(
  io: Io,
  file: string | undefined,
  values: Record<string, unknown>,
  usage: string,
) {
  if (!file) throw new UsageError(`no Compose file given\n${usage}`);
  const text = io.readFile(file);
  try {
    const projectDir = resolve((values["project-dir"] as string | undefined) ?? dirname(file));
    const r = validateCompose({
      composeText: text,
      file,
      projectDir,
      variables: keyValues(values.var, "var"),
      files: diskProjectFiles(projectDir),
      ...(values.platform ? { platform: values.platform as string } : {}),
    });
    for (const w of r.warnings) io.err(`warning: ${formatProblem(w)}`);
    return r.manifest;
  } catch (e) {
    if (e instanceof ComposeInvalidError) throw new UsageError(e.message, e.problems.map(formatProblem));
    throw e;
  }
}

export async function validate(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, composeOptions, VALIDATE_USAGE);
  if (values.help) {
    io.out(VALIDATE_USAGE);
    return 0;
  }
  if (positionals.length > 1) throw new UsageError(`one Compose file at a time\n${VALIDATE_USAGE}`);
  const manifest = loadManifest(io, positionals[0], values, VALIDATE_USAGE);
  io.out(JSON.stringify(manifest, null, 2));
  return 0;
}
