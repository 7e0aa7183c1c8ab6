// services.*.post_start and pre_stop: commands run inside the service's container after it
// starts and before it stops, as Compose runs them (Compose 2.30+; the node's Compose may be
// older, so the agent runs them itself with `docker exec`). `privileged` is refused: a hook runs
// with no more power than its container.
import type { Hook } from "../manifest/schema";
import { readCommand } from "./command";
import type { Path } from "./problem";
import { asBool, asMap, asName, asText, type Ctx, checkKeys, listOrDict, setKey } from "./read";
import { entry, type YNode } from "./tree";

export const HOOK_FIELDS = ["post_start", "pre_stop"] as const;

export function readHooks(ctx: Ctx, node: YNode, path: Path): Hook[] | undefined {
  if (node.kind !== "seq") {
    ctx.problems.error(
      node.pos,
      path,
      "hooks must be a list of { command: ... }",
      "e.g. - command: [./notify, started]",
    );
    return undefined;
  }
  const out: Hook[] = [];
  node.items.forEach((it, i) => {
    const p = [...path, i];
    const map = asMap(ctx, it, p, "a hook");
    if (!map) return;
    checkKeys(ctx, map, p, {
      accepted: ["command", "user", "working_dir", "environment", "privileged"],
      what: "hook field",
    });
    const c = entry(map, "command");
    if (!c) {
      ctx.problems.error(map.pos, p, "a hook needs a command", "add command: [...]");
      return;
    }
    const command = readCommand(ctx, c.value, [...p, "command"], "command");
    if (!command) return;
    if (command.length === 0) {
      ctx.problems.error(
        c.value.pos,
        [...p, "command"],
        "a hook's command is empty",
        "name the program to run",
      );
      return;
    }
    const hook: Hook = { command, environment: {} };
    const priv = entry(map, "privileged");
    if (priv && asBool(ctx, priv.value, [...p, "privileged"], "privileged") === true) {
      ctx.problems.error(
        priv.value.pos,
        [...p, "privileged"],
        "privileged hooks are not allowed: they give the command power over the node",
        "remove privileged:, and run the command as a user of the image (user:)",
      );
    }
    const u = entry(map, "user");
    if (u) {
      const v = asName(ctx, u.value, [...p, "user"], "user");
      if (v !== undefined) hook.user = v;
    }
    const w = entry(map, "working_dir");
    if (w) {
      const v = asText(ctx, w.value, [...p, "working_dir"], "working_dir");
      if (v !== undefined) {
        if (v.startsWith("/")) hook.workingDir = v;
        else ctx.problems.error(w.value.pos, [...p, "working_dir"], "working_dir must be an absolute path");
      }
    }
    const e = entry(map, "environment");
    if (e) {
      for (const kv of listOrDict(ctx, e.value, [...p, "environment"], "environment") ?? []) {
        if (kv.value === null) {
          ctx.problems.error(
            kv.pos,
            kv.path,
            `${kv.key} needs a value in a hook's environment`,
            `write ${kv.key}: VALUE`,
          );
          continue;
        }
        setKey(hook.environment, kv.key, kv.value);
      }
    }
    out.push(hook);
  });
  return out;
}
