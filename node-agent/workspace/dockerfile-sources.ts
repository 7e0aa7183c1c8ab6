// What a Dockerfile reads from its build context: the sources of COPY and ADD (and RUN's bind
// mounts), with ARG and ENV substituted the way BuildKit does, plus the base images it names.
// Pure: text in, references out. Whenever a source cannot be known for sure (a variable with no
// value, an unsupported substitution), the whole context counts as referenced: the key may then
// change more often than needed, never less.

export interface DockerfileReferences {
  /** Context-relative source patterns (cleaned, POSIX, may hold wildcards); "." is the whole context. */
  sources: string[];
  /** Why the whole context was taken (empty when every source was known). */
  unresolved: string[];
  /** Images named by FROM (and COPY --from=<image>) that are not stages of this Dockerfile. */
  baseImages: string[];
  /** Remote sources of ADD (URLs, git): their content is outside the key. */
  remote: string[];
}

interface Instruction {
  keyword: string;
  rest: string;
  line: number;
}

const HEREDOC = /<<(-?)(["']?)([A-Za-z_][A-Za-z0-9_]*)\2/g;

/** Splits a Dockerfile into instructions: continuations joined, comments dropped, heredoc bodies skipped. */
export function instructions(text: string): Instruction[] {
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  let escapeChar = "\\";
  // Parser directives: only at the very top, before any other line.
  for (const l of lines) {
    const m = /^#\s*([a-zA-Z]+)\s*=\s*(\S+)\s*$/.exec(l);
    if (!m) break;
    if (m[1]!.toLowerCase() === "escape" && (m[2] === "`" || m[2] === "\\")) escapeChar = m[2];
  }
  const out: Instruction[] = [];
  let i = 0;
  while (i < lines.length) {
    const startLine = i + 1;
    let line = lines[i++]!;
    if (/^\s*(#|$)/.test(line)) continue;
    let joined = "";
    for (;;) {
      const trimmed = line.replace(/\s+$/, "");
      if (trimmed.endsWith(escapeChar) && i <= lines.length) {
        joined += trimmed.slice(0, -1);
        // Comment and empty lines inside a continuation are dropped.
        while (i < lines.length && /^\s*(#|$)/.test(lines[i]!)) i++;
        if (i >= lines.length) break;
        line = lines[i++]!;
        continue;
      }
      joined += line;
      break;
    }
    const m = /^\s*([A-Za-z]+)(?:\s+([\s\S]*))?$/.exec(joined);
    if (!m) continue;
    const keyword = m[1]!.toUpperCase();
    const rest = (m[2] ?? "").trim();
    // Heredocs (BuildKit): the lines up to each terminator are the instruction's data, not instructions.
    if (keyword === "RUN" || keyword === "COPY" || keyword === "ADD") {
      for (const h of rest.matchAll(HEREDOC)) {
        const strip = h[1] === "-";
        const word = h[3]!;
        while (i < lines.length) {
          const body = lines[i++]!;
          if ((strip ? body.replace(/^\t+/, "") : body) === word) break;
        }
      }
    }
    out.push({ keyword, rest, line: startLine });
  }
  return out;
}

/** Splits shell-form words (quotes group, backslash escapes) or reads the JSON-array form. */
function words(rest: string): string[] {
  if (rest.startsWith("[")) {
    try {
      const v: unknown = JSON.parse(rest);
      if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v as string[];
    } catch {
      // Not JSON: Docker then reads it as shell form too.
    }
  }
  const out: string[] = [];
  let cur = "";
  let has = false;
  let quote: string | undefined;
  for (let i = 0; i < rest.length; i++) {
    const ch = rest[i]!;
    if (quote) {
      if (ch === quote) quote = undefined;
      else if (ch === "\\" && quote === '"' && i + 1 < rest.length) cur += ch + rest[++i];
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      has = true;
    } else if (/\s/.test(ch)) {
      if (has || cur) out.push(cur);
      cur = "";
      has = false;
    } else if (ch === "\\" && i + 1 < rest.length) {
      cur += ch + rest[++i];
      has = true;
    } else {
      cur += ch;
      has = true;
    }
  }
  if (has || cur) out.push(cur);
  return out;
}

type Vars = Map<string, string | undefined>;

class Unresolved extends Error {}

/** BuildKit's word expansion for the forms it supports in COPY/ADD/ARG/ENV: $V, ${V}, ${V:-x}, ${V:+x}. */
export function substitute(word: string, vars: Vars): string {
  let out = "";
  for (let i = 0; i < word.length; i++) {
    const ch = word[i]!;
    if (ch === "\\" && i + 1 < word.length) {
      out += word[++i];
      continue;
    }
    if (ch !== "$") {
      out += ch;
      continue;
    }
    const braced = /^\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])([^}]*))?\}/.exec(word.slice(i));
    const plain = /^\$([A-Za-z_][A-Za-z0-9_]*)/.exec(word.slice(i));
    if (braced) {
      const [all, name, op, arg] = braced;
      const v = vars.get(name!);
      const known = vars.has(name!) && v !== undefined;
      if (op === undefined) {
        if (!known) throw new Unresolved(`\${${name}} has no value`);
        out += v;
      } else if (op === ":-" || op === "-") {
        out += known && (op === "-" || v !== "") ? v : substitute(arg ?? "", vars);
      } else {
        out += known && (op === "+" || v !== "") ? substitute(arg ?? "", vars) : "";
      }
      i += all.length - 1;
    } else if (plain) {
      const v = vars.get(plain[1]!);
      if (v === undefined) throw new Unresolved(`$${plain[1]} has no value`);
      out += v;
      i += plain[0].length - 1;
    } else if (word[i + 1] === "{") {
      throw new Unresolved(`unsupported substitution in ${JSON.stringify(word)}`);
    } else {
      out += ch;
    }
  }
  return out;
}

/** `K=V K2="V 2"` pairs of ARG and ENV (ENV also has the old `K V` form). */
function assignments(keyword: string, rest: string): [string, string | undefined][] {
  const ws = words(rest);
  if (keyword === "ENV" && ws.length >= 1 && !ws[0]!.includes("=")) {
    const m = /^(\S+)\s+([\s\S]*)$/.exec(rest);
    return m ? [[m[1]!, words(m[2]!).join(" ")]] : [];
  }
  return ws.map((w) => {
    const eq = w.indexOf("=");
    return eq < 0 ? [w, undefined] : [w.slice(0, eq), w.slice(eq + 1)];
  });
}

/** A source path as BuildKit resolves it: relative to the context root, never above it. */
export function cleanSource(path: string): string {
  const parts: string[] = [];
  for (const p of path.replace(/\\/g, "/").split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") parts.pop();
    else parts.push(p);
  }
  return parts.join("/") || ".";
}

function isRemote(src: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(src) || /^git@/.test(src);
}

/**
 * Everything a Dockerfile reads from its context and which base images it names. `buildArgs`
 * are the config's build.args (they override ARG defaults); `target` stops at that stage.
 */
export function dockerfileReferences(
  text: string,
  buildArgs: Record<string, string> = {},
  target?: string,
): DockerfileReferences {
  const sources = new Set<string>();
  const unresolved: string[] = [];
  const baseImages = new Set<string>();
  const remote = new Set<string>();
  const stageNames = new Set<string>();
  const stageEnv = new Map<string, Vars>();
  const globalArgs: Vars = new Map();
  let vars: Vars | undefined; // undefined before the first FROM
  let stageCount = 0;
  let currentStage: string | undefined;
  let done = false;

  const expand = (w: string, v: Vars, line: number): string | undefined => {
    try {
      return substitute(w, v);
    } catch (e) {
      if (e instanceof Unresolved) {
        unresolved.push(`line ${line}: ${e.message}`);
        return undefined;
      }
      throw e;
    }
  };
  const isStage = (ref: string) => stageNames.has(ref.toLowerCase()) || /^\d+$/.test(ref);

  for (const ins of instructions(text)) {
    if (done) break;
    if (ins.keyword === "FROM") {
      if (vars && target !== undefined && currentStage === target.toLowerCase()) {
        done = true;
        break;
      }
      const ws = words(ins.rest).filter((w) => !w.startsWith("--"));
      const image = ws[0] !== undefined ? expand(ws[0], globalArgs, ins.line) : undefined;
      const name = ws.length >= 3 && ws[1]!.toLowerCase() === "as" ? ws[2]!.toLowerCase() : undefined;
      // ENV is inherited from a parent stage; ARG is not.
      const parentEnv = image !== undefined ? stageEnv.get(image.toLowerCase()) : undefined;
      vars = new Map(parentEnv ?? []);
      if (image !== undefined && !isStage(image) && image !== "scratch") baseImages.add(image);
      currentStage = name ?? String(stageCount);
      stageEnv.set(currentStage, vars);
      if (name) stageNames.add(name);
      stageCount++;
      continue;
    }
    if (ins.keyword === "ARG") {
      for (const [k, def] of assignments("ARG", ins.rest)) {
        if (!vars) {
          const d = def !== undefined ? expand(def, globalArgs, ins.line) : undefined;
          globalArgs.set(k, buildArgs[k] ?? d);
        } else {
          const d = def !== undefined ? expand(def, vars, ins.line) : globalArgs.get(k);
          vars.set(k, buildArgs[k] ?? d);
        }
      }
      continue;
    }
    if (!vars) continue;
    if (ins.keyword === "ENV") {
      for (const [k, v] of assignments("ENV", ins.rest)) {
        vars.set(k, v === undefined ? undefined : expand(v, vars, ins.line));
      }
      continue;
    }
    if (ins.keyword === "COPY" || ins.keyword === "ADD") {
      const ws = words(ins.rest);
      const flags = ws.filter((w) => w.startsWith("--"));
      const args = ws.filter((w) => !w.startsWith("--"));
      const from = flags.find((f) => /^--from=/i.test(f));
      if (from) {
        const ref = expand(from.slice("--from=".length), vars, ins.line);
        if (ref !== undefined && !isStage(ref) && !/^(context|local):/.test(ref)) baseImages.add(ref);
        continue; // another stage or image, not this context
      }
      for (const src of args.slice(0, -1)) {
        if (src.startsWith("<<")) continue; // heredoc: inline data
        const s = expand(src, vars, ins.line);
        if (s === undefined) sources.add(".");
        else if (ins.keyword === "ADD" && isRemote(s)) remote.add(s);
        else sources.add(cleanSource(s));
      }
      continue;
    }
    if (ins.keyword === "RUN") {
      // RUN --mount=type=bind (the default type) without from= reads the context.
      for (const w of words(ins.rest)) {
        if (!w.startsWith("--mount=")) {
          if (!w.startsWith("--")) break;
          continue;
        }
        const opts = new Map(
          w
            .slice("--mount=".length)
            .split(",")
            .map((kv) => {
              const eq = kv.indexOf("=");
              return (eq < 0 ? [kv, "true"] : [kv.slice(0, eq), kv.slice(eq + 1)]) as [string, string];
            }),
        );
        if ((opts.get("type") ?? "bind") !== "bind" || opts.has("from")) continue;
        const src = opts.get("source") ?? opts.get("src") ?? ".";
        const s = expand(src, vars, ins.line);
        sources.add(s === undefined ? "." : cleanSource(s));
      }
    }
  }
  return {
    sources: [...sources].sort(),
    unresolved,
    baseImages: [...baseImages].sort(),
    remote: [...remote].sort(),
  };
}

/** Go's filepath.Match for one path segment: `*`, `?`, `[...]` (with `^` negation), `\` escapes. */
export function segmentMatcher(pattern: string): (segment: string) => boolean {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === "*") re += "[^/]*";
    else if (ch === "?") re += "[^/]";
    else if (ch === "\\" && i + 1 < pattern.length) re += escapeRe(pattern[++i]!);
    else if (ch === "[") {
      const end = pattern.indexOf("]", i + 2);
      if (end < 0) {
        re += "\\[";
        continue;
      }
      let cls = pattern.slice(i + 1, end);
      if (cls.startsWith("^") || cls.startsWith("!")) cls = `^${cls.slice(1)}`;
      re += `[${cls.replace(/\\/g, "\\\\")}]`;
      i = end;
    } else re += escapeRe(ch);
  }
  const rx = new RegExp(`^${re}$`);
  return (s) => rx.test(s);
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

/**
 * Whether a context file is read by a source pattern: the pattern names the file, or a folder
 * above it (segment by segment, with wildcards).
 */
export function sourceMatcher(source: string): (file: string) => boolean {
  if (source === ".") return () => true;
  const segs = source.split("/").map(segmentMatcher);
  return (file) => {
    const parts = file.split("/");
    if (parts.length < segs.length) return false;
    return segs.every((m, i) => m(parts[i]!));
  };
}
