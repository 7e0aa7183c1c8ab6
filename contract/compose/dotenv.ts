// `.env` and env_file, read as Compose reads them (compose-go's dotenv):
//   KEY=VALUE and `export KEY=VALUE`; `#` comment lines; blank lines;
//   unquoted values end at the line's end, a ` #` starts a comment, surrounding blanks go;
//   'single quoted' values are literal and may span lines;
//   "double quoted" values may span lines and take \n \r \t \\ \" \$ escapes;
//   unquoted and double-quoted values are interpolated (${VAR}, $VAR, defaults...) with the
//   variables defined above them and the lookup; an unset variable there is blank, as in Compose;
//   a KEY alone takes the lookup's value, or is left out when there is none.
// `format: raw` (env_file) takes everything after the first `=` as written.
import { interpolateString } from "./interpolate";
import type { Pos } from "./problem";

export interface DotenvProblem {
  pos: Pos;
  message: string;
  hint?: string;
}

export interface DotenvOptions {
  /** The name used in problems (`.env`, `config/web.env`). */
  file: string;
  raw?: boolean;
  /** Variables a value may refer to beyond those above it; a KEY alone takes its value here. */
  lookup: (name: string) => string | undefined;
}

const KEY = /^[A-Za-z0-9_.\-[\]]+$/;

export function parseDotenv(
  text: string,
  o: DotenvOptions,
): { values: Map<string, string>; problems: DotenvProblem[] } {
  const values = new Map<string, string>();
  const problems: DotenvProblem[] = [];
  const src = text.replace(/^\uFEFF/, "").replace(/\r\n?/g, "\n");
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const pos = (at: number): Pos => ({ file: o.file, line, col: at - lineStart + 1 });
  const toEol = () => {
    while (i < src.length && src[i] !== "\n") i++;
  };
  const newline = () => {
    if (src[i] === "\n") {
      i++;
      line++;
      lineStart = i;
    }
  };
  const vars = {
    get: (name: string) => values.get(name) ?? o.lookup(name),
  } as unknown as ReadonlyMap<string, string>;
  const interpolate = (value: string, at: Pos): string => {
    if (!value.includes("$")) return value;
    const r = interpolateString(value, vars, { unsetIsBlank: true });
    if (r.ok) return r.value;
    for (const e of r.errors)
      problems.push({ pos: at, message: e.message, ...(e.hint ? { hint: e.hint } : {}) });
    return "";
  };
  while (i < src.length) {
    while (src[i] === " " || src[i] === "\t") i++;
    if (i >= src.length) break;
    if (src[i] === "\n") {
      newline();
      continue;
    }
    if (src[i] === "#") {
      toEol();
      continue;
    }
    const start = pos(i);
    if (src.startsWith("export ", i) || src.startsWith("export\t", i)) {
      i += 7;
      while (src[i] === " " || src[i] === "\t") i++;
    }
    const keyStart = i;
    while (i < src.length && !"=:\n \t".includes(src[i] as string)) i++;
    const key = src.slice(keyStart, i);
    while (src[i] === " " || src[i] === "\t") i++;
    if (!KEY.test(key)) {
      problems.push({
        pos: start,
        message: `${JSON.stringify(src.slice(keyStart, src.indexOf("\n", keyStart) < 0 ? undefined : src.indexOf("\n", keyStart)))} is not KEY=VALUE`,
        hint: "write one KEY=VALUE per line; # starts a comment",
      });
      toEol();
      continue;
    }
    if (i >= src.length || src[i] === "\n" || src[i] === "#") {
      const v = o.lookup(key);
      if (v !== undefined) values.set(key, v);
      toEol();
      continue;
    }
    if (src[i] !== "=" && src[i] !== ":") {
      problems.push({ pos: pos(i), message: `expected = after ${key}`, hint: "write KEY=VALUE" });
      toEol();
      continue;
    }
    i++;
    if (o.raw) {
      const from = i;
      toEol();
      values.set(key, src.slice(from, i));
      continue;
    }
    while (src[i] === " " || src[i] === "\t") i++;
    const q = src[i];
    const valuePos = pos(i);
    if (q === "'" || q === '"') {
      i++;
      let v = "";
      let closed = false;
      while (i < src.length) {
        const c = src[i] as string;
        if (c === q) {
          closed = true;
          i++;
          break;
        }
        if (q === '"' && c === "\\" && i + 1 < src.length) {
          const n = src[i + 1] as string;
          v +=
            n === "n" ? "\n" : n === "r" ? "\r" : n === "t" ? "\t" : n === "$" ? "$$" : n === "\n" ? "" : n;
          if (n === "\n") {
            line++;
            lineStart = i + 2;
          }
          i += 2;
          continue;
        }
        if (q === '"' && c === "$" && src[i + 1] === "$") {
          v += "$$";
          i += 2;
          continue;
        }
        if (c === "\n") {
          v += c;
          i++;
          line++;
          lineStart = i;
          continue;
        }
        v += c;
        i++;
      }
      if (!closed) {
        problems.push({
          pos: valuePos,
          message: `the value of ${key} has no closing ${q}`,
          hint: `close it with ${q}`,
        });
        break;
      }
      while (src[i] === " " || src[i] === "\t") i++;
      if (i < src.length && src[i] !== "\n" && src[i] !== "#") {
        problems.push({
          pos: pos(i),
          message: `text after the quoted value of ${key}`,
          hint: "quote the whole value",
        });
      }
      toEol();
      values.set(key, q === "'" ? v : interpolate(v, valuePos));
      continue;
    }
    const from = i;
    toEol();
    let v = src.slice(from, i);
    const hash = v.search(/[ \t]#/);
    if (hash >= 0) v = v.slice(0, hash);
    values.set(key, interpolate(v.trimEnd(), valuePos));
  }
  return { values, problems };
}
