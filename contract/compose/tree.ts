// The located tree the passes work on: plain maps, sequences and scalars, each with its position.
// Aliases are already expanded and merge keys (`<<`) merged by the parse pass, so later passes
// never see YAML's graph features.
import type { Pos } from "./problem";

export type YNode = YMap | YSeq | YScalar;

export interface YEntry {
  key: string;
  keyPos: Pos;
  value: YNode;
}

/** Compose's merge tags: `!reset` removes what a base file gave, `!override` replaces it. */
export type MergeTag = "reset" | "override";

export interface YMap {
  kind: "map";
  pos: Pos;
  entries: YEntry[];
  tag?: MergeTag;
}

export interface YSeq {
  kind: "seq";
  pos: Pos;
  items: YNode[];
  tag?: MergeTag;
}

export interface YScalar {
  kind: "scalar";
  pos: Pos;
  /** null for an empty value (`key:`) and `null`/`~`. */
  value: string | number | boolean | null;
  /** The text as written (for numbers: `1.10` stays `1.10`). */
  source: string;
  /** The text before interpolation, when interpolation changed it. */
  raw?: string;
  tag?: MergeTag;
}

export function entry(map: YMap, key: string): YEntry | undefined {
  return map.entries.find((e) => e.key === key);
}

/** The plain JavaScript value of a node (for `x-` extensions). */
export function toPlain(node: YNode): unknown {
  switch (node.kind) {
    case "scalar":
      return typeof node.value === "number" && !Number.isFinite(node.value) ? node.source : node.value;
    case "seq":
      return node.items.map(toPlain);
    case "map": {
      // Without a prototype, so a key "__proto__" stays a key; such an object is in V8's
      // dictionary mode from the start: an 800-step merge chain's 320,000 keys took 3x as long
      // through Object.fromEntries (each key a hidden-class transition).
      const o: Record<string, unknown> = Object.create(null);
      for (const e of node.entries) o[e.key] = toPlain(e.value);
      return o;
    }
  }
}

export function describe(node: YNode): string {
  if (node.kind === "map") return "a mapping";
  if (node.kind === "seq") return "a list";
  if (node.value === null) return "empty";
  return `${typeof node.value} ${JSON.stringify(node.source)}`;
}
