// Problems: what is wrong, where (file, line, column, YAML path) and what to do instead.

/** A 1-based line and column in the Compose file. */
export interface Pos {
  line: number;
  col: number;
  /** The file, when not the Compose file itself (`.env`, an env_file, an included file). */
  file?: string;
}

/** A YAML path: map keys and sequence indexes, e.g. ["services", "web", "volumes", 0]. */
export type Path = readonly (string | number)[];

export interface Problem {
  file: string;
  line: number;
  col: number;
  /** Like `services.web.volumes[0]`; `(top level)` for the document itself. */
  path: string;
  message: string;
  /** What to do instead. */
  hint?: string;
}

const PLAIN_KEY = /^[A-Za-z0-9_-]+$/;

/** `["services", "web", "volumes", 0]` → `services.web.volumes[0]`; odd keys are quoted. */
export function formatPath(path: Path): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else if (PLAIN_KEY.test(seg)) out += out === "" ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out === "" ? "(top level)" : out;
}

/** `FILE:LINE:COL PATH: message (hint)` */
export function formatProblem(p: Problem): string {
  return `${p.file}:${p.line}:${p.col} ${p.path}: ${p.message}${p.hint ? ` (${p.hint})` : ""}`;
}

/** Collects problems (errors) and warnings while the passes walk the file. */
export class Problems {
  readonly errors: Problem[] = [];
  readonly warnings: Problem[] = [];
  private readonly muted = new Set<string>();
  constructor(readonly file: string) {}

  error(pos: Pos, path: Path, message: string, hint?: string): void {
    if (!this.muted.has(key(pos))) this.errors.push(this.make(pos, path, message, hint));
  }

  warn(pos: Pos, path: Path, message: string, hint?: string): void {
    if (!this.muted.has(key(pos))) this.warnings.push(this.make(pos, path, message, hint));
  }

  /** No more problems at this spot: its value could not be read (e.g. an unset variable), so later checks would only repeat that. */
  mute(pos: Pos): void {
    this.muted.add(key(pos));
  }

  private make(pos: Pos, path: Path, message: string, hint?: string): Problem {
    const p: Problem = {
      file: pos.file ?? this.file,
      line: Math.max(1, pos.line),
      col: Math.max(1, pos.col),
      path: formatPath(path),
      message,
    };
    if (hint) p.hint = hint;
    return p;
  }
}

function key(pos: Pos): string {
  return `${pos.file ?? ""}:${pos.line}:${pos.col}`;
}

/** Problems in file order (stable for problems on the same spot). */
export function sortProblems(ps: readonly Problem[]): Problem[] {
  return [...ps].sort(
    (a, b) => (a.file === b.file ? 0 : a.file < b.file ? -1 : 1) || a.line - b.line || a.col - b.col,
  );
}
