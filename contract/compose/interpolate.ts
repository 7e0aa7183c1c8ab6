// Pass 2: variable interpolation in values (never keys), like Compose:
//   $$ → $;  $VAR and ${VAR};  ${VAR:-default} (unset or empty) and ${VAR-default} (unset);
//   ${VAR:?message} (error when unset or empty) and ${VAR?message} (error when unset);
//   ${VAR:+replacement} and ${VAR+replacement}. Defaults and replacements may nest: ${A:-${B}}.
//   A `$` followed by anything else (`$(date)`, `$1`, a `$` at the end) is kept, as compose-go keeps it.
// Variables come only from the map passed in, never from the process environment.
import type { Path, Problems } from "./problem";
import type { YNode } from "./tree";

export type Variables = ReadonlyMap<string, string>;

export interface InterpolationError {
  message: string;
  hint?: string;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

export function toVariables(
  vars: Record<string, string> | ReadonlyMap<string, string> | undefined,
): Variables {
  if (!vars) return new Map();
  if (vars instanceof Map) return vars;
  return new Map(Object.entries(vars).filter(([, v]) => typeof v === "string"));
}

/** Interpolates one string: the result, or every error found in it. */
export function interpolateString(
  s: string,
  vars: Variables,
  options: { unsetIsBlank?: boolean } = {},
): { ok: true; value: string } | { ok: false; errors: InterpolationError[] } {
  const errors: InterpolationError[] = [];
  const value = expand(s, vars, errors, options.unsetIsBlank === true, 0);
  return errors.length ? { ok: false, errors } : { ok: true, value };
}

/** How deep `${A:-${B:-...}}` may nest: far beyond what a file needs, far below the stack's limit. */
export const MAX_INTERPOLATION_DEPTH = 50;

function expand(
  s: string,
  vars: Variables,
  errors: InterpolationError[],
  blank: boolean,
  depth: number,
): string {
  if (depth > MAX_INTERPOLATION_DEPTH) {
    errors.push({
      message: `variable references nest more than ${MAX_INTERPOLATION_DEPTH} levels deep`,
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Compose syntax in a message
      hint: "write the default with fewer levels of ${...}",
    });
    return "";
  }
  let out = "";
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (c !== "$") {
      out += c;
      i++;
      continue;
    }
    const next = s[i + 1];
    if (next === "$") {
      out += "$";
      i += 2;
      continue;
    }
    if (next === "{") {
      const end = closingBrace(s, i + 2);
      if (end < 0) {
        errors.push({
          message: `unterminated variable reference in ${JSON.stringify(s)}`,
          hint: "close it with } or write $$ for a literal $",
        });
        return out;
      }
      out += braced(s.slice(i + 2, end), vars, errors, blank, depth);
      if (errors.length > 0 && depth > 0) return out;
      i = end + 1;
      continue;
    }
    const m = NAME.exec(s.slice(i + 1));
    if (m) {
      out += lookup(m[0], vars, errors, blank);
      i += 1 + m[0].length;
      continue;
    }
    // compose-go: a `$` not followed by `$`, a name or `{` is kept as written (`$(date)`, `$1`, `a$`).
    out += "$";
    i++;
  }
  return out;
}

/** The index of the `}` closing a `${` whose body starts at `from`, nested braces counted. */
function closingBrace(s: string, from: number): number {
  let depth = 0;
  for (let i = from; i < s.length; i++) {
    const c = s[i];
    if (c === "$" && s[i + 1] === "$") {
      i++;
      continue;
    }
    if (c === "$" && s[i + 1] === "{") {
      depth++;
      i++;
      continue;
    }
    if (c === "}") {
      if (depth === 0) return i;
      depth--;
    }
  }
  return -1;
}

function lookup(name: string, vars: Variables, errors: InterpolationError[], blank: boolean): string {
  const v = vars.get(name);
  if (v === undefined && blank) return "";
  if (v === undefined) {
    errors.push({
      message: `variable ${name} is not set`,
      hint: `set it in the project folder's .env, pass it with --var ${name}=..., or give a default: \${${name}:-value}`,
    });
    return "";
  }
  return v;
}

function braced(
  body: string,
  vars: Variables,
  errors: InterpolationError[],
  blank: boolean,
  depth: number,
): string {
  const m = NAME.exec(body);
  if (!m) {
    errors.push({
      message: `invalid interpolation \${${body}}: expected a variable name`,
      hint: "names are letters, digits and _, not starting with a digit; write $$ for a literal $",
    });
    return "";
  }
  const name = m[0];
  const rest = body.slice(name.length);
  if (rest === "") return lookup(name, vars, errors, blank);
  const v = vars.get(name);
  const set = v !== undefined;
  const nonEmpty = set && v !== "";
  const op = rest.startsWith(":") ? rest.slice(0, 2) : rest.slice(0, 1);
  const arg = rest.slice(op.length);
  switch (op) {
    case ":-":
      return nonEmpty ? (v as string) : expand(arg, vars, errors, blank, depth + 1);
    case "-":
      return set ? (v as string) : expand(arg, vars, errors, blank, depth + 1);
    case ":+":
      return nonEmpty ? expand(arg, vars, errors, blank, depth + 1) : "";
    case "+":
      return set ? expand(arg, vars, errors, blank, depth + 1) : "";
    case ":?":
    case "?":
      if (op === ":?" ? nonEmpty : set) return v as string;
      errors.push({
        message: `required variable ${name} is ${set ? "empty" : "not set"}${arg ? `: ${expand(arg, vars, [], blank, depth + 1)}` : ""}`,
        hint: `pass it: --var ${name}=...`,
      });
      return "";
    default:
      errors.push({
        message: `invalid interpolation \${${body}}`,
        // biome-ignore lint/suspicious/noTemplateCurlyInString: Compose syntax in a message
        hint: "use ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message} or ${VAR?message}",
      });
      return "";
  }
}

/** Interpolates every string value of the tree in place; keys are left as written. */
export function interpolateTree(node: YNode, vars: Variables, path: Path, problems: Problems): void {
  // One path array, extended and shortened as the walk goes: copied only for a problem.
  walkInterpolate(node, vars, [...path], problems);
}

function walkInterpolate(node: YNode, vars: Variables, path: (string | number)[], problems: Problems): void {
  switch (node.kind) {
    case "scalar": {
      if (typeof node.value !== "string" || !node.value.includes("$")) return;
      const r = interpolateString(node.value, vars);
      if (r.ok) {
        if (r.value !== node.value) {
          node.raw = node.value;
          node.value = r.value;
          node.source = r.value;
        }
      } else {
        for (const e of r.errors) problems.error(node.pos, [...path], e.message, e.hint);
        problems.mute(node.pos);
      }
      return;
    }
    case "seq":
      for (let i = 0; i < node.items.length; i++) {
        path.push(i);
        walkInterpolate(node.items[i] as YNode, vars, path, problems);
        path.pop();
      }
      return;
    case "map":
      for (const e of node.entries) {
        path.push(e.key);
        walkInterpolate(e.value, vars, path, problems);
        path.pop();
      }
      return;
  }
}
