// command: / entrypoint: a list of words, or a string split into words like Compose does
// (shell-words.ts). A list is kept as written; `[]` stays `[]` (it clears the image's value).
import type { Path } from "./problem";
import { asText, type Ctx } from "./read";
import { splitShellWords } from "./shell-words";
import type { YNode } from "./tree";

export function readCommand(ctx: Ctx, node: YNode, path: Path, what: string): string[] | undefined {
  if (node.kind === "scalar") {
    if (node.value === null) return undefined;
    const s = asText(ctx, node, path, what);
    if (s === undefined) return undefined;
    const r = splitShellWords(s);
    if (!r.ok) {
      ctx.problems.error(node.pos, path, r.message, r.hint);
      return undefined;
    }
    return r.words;
  }
  if (node.kind === "seq") {
    const out: string[] = [];
    let ok = true;
    node.items.forEach((it, i) => {
      const s = asText(ctx, it, [...path, i], `${what} words`);
      if (s === undefined) ok = false;
      else out.push(s);
    });
    return ok ? out : undefined;
  }
  ctx.problems.error(node.pos, path, `${what} must be a string or a list of strings`);
  return undefined;
}
