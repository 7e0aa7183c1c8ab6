// Labels (services, volumes, networks): a map or a list of KEY=VALUE. The `berth.` prefix is
// reserved for the labels berth sets itself (berth.environment, berth.release, berth.service).
import type { Path } from "./problem";
import { type Ctx, listOrDict, setKey } from "./read";
import type { YNode } from "./tree";

export function readLabels(ctx: Ctx, node: YNode, path: Path): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of listOrDict(ctx, node, path, "labels") ?? []) {
    if (kv.key.trim() === "") {
      ctx.problems.error(kv.pos, kv.path, "a label has an empty name");
      continue;
    }
    if (kv.key.toLowerCase().startsWith("berth.")) {
      ctx.problems.error(
        kv.pos,
        kv.path,
        `label ${kv.key} uses the reserved berth. prefix`,
        "berth sets berth.* labels itself; use your own prefix, e.g. com.example.",
      );
      continue;
    }
    if (kv.node.kind !== "scalar") {
      ctx.problems.error(kv.node.pos, kv.path, `label ${kv.key} must be a string`);
      continue;
    }
    setKey(out, kv.key, kv.value ?? "");
  }
  return out;
}
