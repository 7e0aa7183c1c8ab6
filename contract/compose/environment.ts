// services.*.environment: a map or a list of KEY=VALUE. `KEY` without a value takes the variable
// of that name passed in (as Compose takes it from the shell), and is left out with a warning
// when there is none. `KEY: { x-berth-secret: NAME }` references a secret the agent injects.
import { SECRET_NAME_PATTERN } from "../manifest/patterns";
import type { EnvValue } from "../manifest/schema";
import type { Path } from "./problem";
import { asText, type Ctx, listOrDict, setKey } from "./read";
import type { YNode } from "./tree";

const SECRET_KEY = "x-berth-secret";

export function readEnvironment(ctx: Ctx, node: YNode, path: Path): Record<string, EnvValue> {
  const out: Record<string, EnvValue> = {};
  for (const kv of listOrDict(ctx, node, path, "environment") ?? []) {
    if (kv.key === "" || /[\s=]/.test(kv.key)) {
      ctx.problems.error(
        kv.pos,
        kv.path,
        `${JSON.stringify(kv.key)} is not a variable name`,
        "names have no spaces or =",
      );
      continue;
    }
    if (kv.node.kind === "map") {
      const [first, ...more] = kv.node.entries;
      if (!first || first.key !== SECRET_KEY || more.length > 0) {
        ctx.problems.error(
          kv.node.pos,
          kv.path,
          `environment ${kv.key} must be a string or { ${SECRET_KEY}: NAME }`,
          first && first.key !== SECRET_KEY
            ? `unknown key ${first.key}; did you mean "${SECRET_KEY}"?`
            : undefined,
        );
        continue;
      }
      const sp = [...kv.path, SECRET_KEY];
      const name = asText(ctx, first.value, sp, "the secret name");
      if (name === undefined) continue;
      if (!SECRET_NAME_PATTERN.test(name)) {
        ctx.problems.error(
          first.value.pos,
          sp,
          `${JSON.stringify(name)} is not a secret name`,
          "1-128 letters, digits, '.', '_' or '-', starting with a letter, digit or _",
        );
        continue;
      }
      setKey(out, kv.key, { secret: name });
      continue;
    }
    if (kv.node.kind === "seq") {
      ctx.problems.error(kv.node.pos, kv.path, `environment ${kv.key} must be a string, got a list`);
      continue;
    }
    const value = kv.value ?? ctx.variables.get(kv.key);
    if (value === undefined) {
      ctx.problems.warn(
        kv.pos,
        kv.path,
        `${kv.key} has no value and no variable ${kv.key} was passed: it is left unset`,
        `give it a value (${kv.key}=...) or pass the variable`,
      );
      continue;
    }
    setKey(out, kv.key, { value });
  }
  return out;
}
