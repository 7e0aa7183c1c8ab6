// Pass 1: YAML text → located tree. YAML syntax errors, unknown tags, recursive aliases and
// alias bombs become problems; nothing here throws.
import {
  type Alias,
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
  visit,
} from "yaml";
import type { Pos, Problems } from "./problem";
import type { MergeTag, YEntry, YMap, YNode } from "./tree";

/** The most nodes alias expansion may produce: a "billion laughs" file stops here. */
export const MAX_NODES = 1_000_000;
const MAX_DEPTH = 200;

class Converter {
  private count = 0;
  private readonly expanding = new Set<Node>();
  tooBig = false;
  /**
   * Each alias's anchor, found in one walk of the document: the yaml library's own
   * Alias.resolve walks the document again for every alias (20,000 aliases took minutes).
   */
  private readonly targets = new Map<Alias, Node>();
  /** The nodes some alias refers to. */
  private readonly anchored = new Set<Node>();
  /**
   * Each anchored node once converted, with its size (values) and height: an alias of it is a
   * copy of that tree, so a chain of aliases (an 800-step `<<:` chain) is converted in time
   * linear in what it expands to, not once more per alias at each step.
   */
  private readonly converted = new Map<Node, { tree: YNode; size: number; height: number }>();

  constructor(
    doc: Document.Parsed,
    private readonly lc: LineCounter,
    private readonly problems: Problems,
    /** Set for a file other than the Compose file itself (extends, include). */
    private readonly file: string | undefined,
    hasAliases: boolean,
  ) {
    // An alias refers to the closest anchor of that name before it, in document order. A text
    // without a `*` has no alias, and needs no walk.
    if (!hasAliases) return;
    const anchors = new Map<string, Node>();
    visit(doc, {
      Node: (_, n) => {
        if (isAlias(n)) {
          const t = anchors.get(n.source);
          if (t) {
            this.targets.set(n, t);
            this.anchored.add(t);
          }
        } else if ((n as { anchor?: string }).anchor) anchors.set((n as { anchor: string }).anchor, n);
      },
    });
  }

  pos(node: { range?: [number, number, number] | null } | null | undefined, fallback: Pos): Pos {
    const offset = node?.range?.[0];
    if (offset === undefined) return fallback;
    // linePos makes a new object each call: the position itself, unless a file is named.
    const p = this.lc.linePos(offset);
    return this.file === undefined ? p : { line: p.line, col: p.col, file: this.file };
  }

  /** `!reset` and `!override` become the node's merge tag; other local tags are refused. */
  private mergeTag(node: Node, pos: Pos, path: WalkPath): MergeTag | undefined {
    const tag = node.tag;
    if (!tag?.startsWith("!") || tag.startsWith("!!")) return undefined;
    if (tag === "!reset") return "reset";
    if (tag === "!override") return "override";
    this.problems.error(pos, path, `unknown YAML tag ${tag}`, "remove the tag");
    return undefined;
  }

  convert(node: unknown, path: WalkPath, at: Pos, depth: number): YNode {
    const pos = this.pos(node as Node, at);
    // Once a bound is reached the tree is discarded: convert nothing more.
    if (this.tooBig) return { kind: "scalar", pos, value: null, source: "" };
    if (++this.count > MAX_NODES || depth > MAX_DEPTH) {
      if (!this.tooBig) {
        this.tooBig = true;
        this.problems.error(
          pos,
          path,
          depth > MAX_DEPTH ? "the document is nested too deeply" : "the document expands to too many values",
          "aliases (*name) that expand to huge documents are refused; write the values out",
        );
      }
      return { kind: "scalar", pos, value: null, source: "" };
    }
    if (isAlias(node)) return this.alias(node, path, pos, depth);
    if (this.anchored.has(node as Node) && !this.converted.has(node as Node)) {
      const before = this.count;
      const tree = this.convertNode(node, path, pos, depth);
      if (!this.tooBig)
        this.converted.set(node as Node, { tree, size: this.count - before, height: heightOf(tree) });
      return tree;
    }
    return this.convertNode(node, path, pos, depth);
  }

  private tooMany(pos: Pos, path: WalkPath, deep: boolean): YNode {
    if (!this.tooBig) {
      this.tooBig = true;
      this.problems.error(
        pos,
        path,
        deep ? "the document is nested too deeply" : "the document expands to too many values",
        "aliases (*name) that expand to huge documents are refused; write the values out",
      );
    }
    return { kind: "scalar", pos, value: null, source: "" };
  }

  private convertNode(node: unknown, path: WalkPath, pos: Pos, depth: number): YNode {
    if (isScalar(node)) {
      const tag = this.mergeTag(node, pos, path);
      const v = node.value;
      const value =
        v === null || v === undefined
          ? null
          : typeof v === "string" || typeof v === "number" || typeof v === "boolean"
            ? v
            : typeof v === "bigint"
              ? Number(v)
              : String(v);
      const source = typeof node.source === "string" ? node.source : value === null ? "" : String(value);
      return tag ? { kind: "scalar", pos, value, source, tag } : { kind: "scalar", pos, value, source };
    }
    if (isSeq(node)) {
      const tag = this.mergeTag(node, pos, path);
      const seq: YNode = {
        kind: "seq",
        pos,
        items: node.items.map((it, i) => {
          path.push(i);
          const item = this.convert(it, path, pos, depth + 1);
          path.pop();
          return item;
        }),
      };
      if (tag) seq.tag = tag;
      return seq;
    }
    if (isMap(node)) {
      const tag = this.mergeTag(node, pos, path);
      const m = this.map(node as unknown as { items: unknown[] } & Node, path, pos, depth);
      if (tag) m.tag = tag;
      return m;
    }
    // A bare Pair or an unknown node kind: treat as empty.
    return { kind: "scalar", pos, value: null, source: "" };
  }

  private alias(node: Alias, path: WalkPath, pos: Pos, depth: number): YNode {
    let target: Node | undefined;
    try {
      target = this.targets.get(node);
    } catch {
      target = undefined;
    }
    if (!target) {
      this.problems.error(
        pos,
        path,
        `unknown alias *${node.source}`,
        `define the anchor &${node.source} before using it`,
      );
      return { kind: "scalar", pos, value: null, source: "" };
    }
    if (this.expanding.has(target)) {
      this.problems.error(
        pos,
        path,
        `alias *${node.source} refers to a value that contains it`,
        "remove the recursive alias",
      );
      return { kind: "scalar", pos, value: null, source: "" };
    }
    const done = this.converted.get(target);
    if (done) {
      // Counted as if converted again: what it expands to is what later passes walk.
      this.count += done.size;
      if (this.count > MAX_NODES || depth + 1 + done.height > MAX_DEPTH)
        return this.tooMany(pos, path, depth + 1 + done.height > MAX_DEPTH);
      const copy = copyTree(done.tree);
      copy.pos = pos;
      return copy;
    }
    this.expanding.add(target);
    try {
      const out = this.convert(target, path, pos, depth + 1);
      // Positions inside an alias point at the anchor's text; the alias itself is where it is used.
      return { ...out, pos };
    } finally {
      this.expanding.delete(target);
    }
  }

  private keyOf(key: unknown, path: WalkPath, pos: Pos): string | undefined {
    if (isScalar(key)) {
      const v = key.value;
      if (v === null || v === undefined) {
        this.problems.error(pos, path, "a key is empty", "give every key a name");
        return undefined;
      }
      if (typeof v === "string" || typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") {
        return typeof key.source === "string" && typeof v !== "string" ? key.source : String(v);
      }
    }
    if (isAlias(key)) {
      const t = (() => {
        try {
          return this.targets.get(key);
        } catch {
          return undefined;
        }
      })();
      if (isScalar(t) && (typeof t.value === "string" || typeof t.value === "number")) return String(t.value);
    }
    this.problems.error(pos, path, "keys must be plain strings", "write the key as a plain word");
    return undefined;
  }

  private map(node: { items: unknown[] } & Node, path: WalkPath, pos: Pos, depth: number): YMap {
    const explicit: YEntry[] = [];
    const merged: YEntry[] = [];
    const seen = new Map<string, Pos>();
    for (const item of node.items) {
      const pair = item as { key: unknown; value: unknown };
      const keyPos = this.pos(pair.key as Node, pos);
      const isMerge = isScalar(pair.key) && pair.key.value === "<<" && pair.key.type === "PLAIN";
      if (isMerge) {
        this.merge(pair.value, path, keyPos, depth, merged);
        continue;
      }
      const key = this.keyOf(pair.key, path, keyPos);
      if (key === undefined) continue;
      // Checked here, once per key (the yaml library's uniqueKeys scans the map for each key).
      const first = seen.get(key);
      if (first) {
        this.problems.error(
          keyPos,
          [...path, key],
          `duplicate key ${key} (first at line ${first.line})`,
          "each key may appear once in a mapping; remove or merge the duplicate",
        );
        continue;
      }
      seen.set(key, keyPos);
      let value: YNode;
      if (pair.value === null || pair.value === undefined) {
        value = { kind: "scalar", pos: keyPos, value: null, source: "" };
      } else {
        path.push(key);
        value = this.convert(pair.value, path, keyPos, depth + 1);
        path.pop();
      }
      explicit.push({ key, keyPos, value });
    }
    // merge() made the merged keys unique: only the explicit ones can hide them.
    const entries = explicit;
    for (const m of merged) if (!seen.has(m.key)) entries.push(m);
    return { kind: "map", pos, entries };
  }

  /** `<<: *base` or `<<: [*a, *b]`: keys written in the map win, then earlier sources. */
  private merge(value: unknown, path: WalkPath, keyPos: Pos, depth: number, into: YEntry[]): void {
    const sources = isSeq(value) ? value.items : [value];
    // Keys already taken, made only when a second source could repeat one: a converted map's
    // keys are unique (an 800-step chain merges one source per step, 320,000 keys in all).
    let have: Set<string> | undefined;
    for (const s of sources) {
      const node = this.convert(s, path, keyPos, depth + 1);
      if (this.tooBig) return;
      if (node.kind !== "map") {
        this.problems.error(
          keyPos,
          [...path, "<<"],
          "a merge key (<<) needs a mapping or aliases of mappings",
        );
        continue;
      }
      if (into.length === 0) {
        for (const e of node.entries) into.push(e);
        continue;
      }
      have ??= new Set(into.map((x) => x.key));
      for (const e of node.entries) {
        if (have.has(e.key)) continue;
        have.add(e.key);
        into.push(e);
      }
    }
  }
}

/**
 * The converter's path: one array for the whole walk, extended and shortened as it goes
 * (a problem formats it at once); a copy per value was ~5% of a 20-service file's parse.
 */
type WalkPath = (string | number)[];

function heightOf(n: YNode): number {
  if (n.kind === "seq") return 1 + n.items.reduce((h, i) => Math.max(h, heightOf(i)), 0);
  if (n.kind === "map") return 1 + n.entries.reduce((h, e) => Math.max(h, heightOf(e.value)), 0);
  return 0;
}

/** A copy later passes may change without touching the anchor's tree or other aliases of it. */
function copyTree(n: YNode): YNode {
  // Written out rather than spread: an 800-step merge chain copies 320,000 nodes, and object
  // literals of one shape are what V8 allocates fastest.
  if (n.kind === "seq") {
    const items = new Array<YNode>(n.items.length);
    for (let i = 0; i < items.length; i++) items[i] = copyTree(n.items[i] as YNode);
    const seq: YNode = { kind: "seq", pos: n.pos, items };
    if (n.tag) seq.tag = n.tag;
    return seq;
  }
  if (n.kind === "map") {
    const entries = new Array<YEntry>(n.entries.length);
    for (let i = 0; i < entries.length; i++) {
      const e = n.entries[i] as YEntry;
      entries[i] = { key: e.key, keyPos: e.keyPos, value: copyTree(e.value) };
    }
    const map: YNode = { kind: "map", pos: n.pos, entries };
    if (n.tag) map.tag = n.tag;
    return map;
  }
  const scalar: YNode = { kind: "scalar", pos: n.pos, value: n.value, source: n.source };
  if (n.raw !== undefined) scalar.raw = n.raw;
  if (n.tag) scalar.tag = n.tag;
  return scalar;
}

export interface Parsed {
  /** undefined when the YAML itself is broken or the document is empty. */
  root?: YNode;
  empty: boolean;
}

/** `file`: set when the text is not the Compose file itself, so positions name their file. */
export function parseYaml(text: string, problems: Problems, file?: string): Parsed {
  if (text.length > MAX_TEXT_CHARS) {
    problems.error(
      file === undefined ? { line: 1, col: 1 } : { line: 1, col: 1, file },
      [],
      `the file is ${Buffer.byteLength(text)} bytes, over the ${MAX_TEXT_CHARS} a Compose file may hold`,
      "a Compose file this large is not one a team writes; split it with include:",
    );
    return { empty: false };
  }
  const deep = flowTooDeep(text);
  if (deep) {
    problems.error(
      file === undefined ? deep : { ...deep, file },
      [],
      `nesting too deep at ${deep.line}:${deep.col}: more than ${MAX_DEPTH} levels of [ ] and { }`,
      "write the value with fewer levels",
    );
    return { empty: false };
  }
  const lc = new LineCounter();
  let doc: Document.Parsed;
  try {
    doc = parseDocument(text, {
      lineCounter: lc,
      prettyErrors: false,
      uniqueKeys: false,
      version: "1.2",
      strict: true,
    });
  } catch (e) {
    problems.error({ line: 1, col: 1 }, [], `the file could not be read as YAML: ${(e as Error).message}`);
    return { empty: false };
  }
  const where = (p: [number, number] | undefined): Pos => {
    const { line, col } = lc.linePos(p?.[0] ?? 0);
    return file === undefined ? { line, col } : { line, col, file };
  };
  for (const err of doc.errors) {
    problems.error(where(err.pos), [], `YAML syntax error: ${firstLine(err.message)}`, yamlHint(err.code));
  }
  if (doc.errors.length > 0) return { empty: false };
  for (const w of doc.warnings) {
    if (w.code === "TAG_RESOLVE_FAILED") continue; // reported with its path by the converter
    problems.warn(where(w.pos), [], `YAML: ${firstLine(w.message)}`);
  }
  if (doc.contents === null || doc.contents === undefined) return { empty: true };
  if (isScalar(doc.contents) && (doc.contents.value === null || doc.contents.value === undefined)) {
    return { empty: true };
  }
  try {
    const conv = new Converter(doc, lc, problems, file, text.includes("*"));
    const root = conv.convert(doc.contents, [], { line: 1, col: 1 }, 0);
    return conv.tooBig ? { empty: false } : { root, empty: false };
  } catch (e) {
    problems.error({ line: 1, col: 1 }, [], `the file could not be read as YAML: ${(e as Error).message}`);
    return { empty: false };
  }
}

/** The most a Compose file may hold (characters; its UTF-8 size is reported). */
export const MAX_TEXT_CHARS = 1024 * 1024;

/**
 * Where flow collections (`[`, `{`) nest deeper than MAX_DEPTH, found with one scan before the
 * YAML parser, which recurses per level (100,000 levels overflowed its stack).
 */
function flowTooDeep(text: string): Pos | undefined {
  let depth = 0;
  let line = 1;
  let lineStart = 0;
  let quote: string | undefined;
  /** `${` … `}` of interpolation, which is text, not a flow mapping. */
  let variables = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "\n") {
      line++;
      lineStart = i + 1;
      quote = undefined;
      variables = 0;
      continue;
    }
    if (c === "$" && text[i + 1] === "{") {
      variables++;
      i++;
      continue;
    }
    if (c === "}" && variables > 0) {
      variables--;
      continue;
    }
    if (quote) {
      if (c === "\\" && quote === '"') i++;
      else if (c === quote) quote = undefined;
      continue;
    }
    if (c === "#" && (i === 0 || /\s/.test(text[i - 1] as string))) {
      while (i + 1 < text.length && text[i + 1] !== "\n") i++;
      continue;
    }
    if ((c === '"' || c === "'") && depth > 0) quote = c;
    else if (c === "[" || c === "{") {
      if (++depth > MAX_DEPTH) return { line, col: i - lineStart + 1 };
    } else if ((c === "]" || c === "}") && depth > 0) depth--;
  }
  return undefined;
}

function firstLine(s: string): string {
  return s.split("\n")[0] ?? s;
}

function yamlHint(code: string): string | undefined {
  switch (code) {
    case "DUPLICATE_KEY":
      return "each key may appear once in a mapping; remove or merge the duplicate";
    case "MULTIPLE_DOCS":
      return "berth reads one YAML document; remove the `---` separators";
    case "TAB_AS_INDENT":
      return "indent with spaces, not tabs";
    default:
      return undefined;
  }
}
