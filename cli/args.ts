// Small argument helpers on node:util parseArgs: repeated KEY=VALUE options and required values.
import { type ParseArgsConfig, parseArgs } from "node:util";
import { UsageError } from "./io";

export interface Parsed {
  values: Record<string, unknown>;
  positionals: string[];
}

export function parse(
  argv: string[],
  options: NonNullable<ParseArgsConfig["options"]>,
  usage: string,
): Parsed {
  try {
    const r = parseArgs({
      args: argv,
      options: { ...options, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    });
    return { values: r.values as Record<string, unknown>, positionals: r.positionals };
  } catch (e) {
    throw new UsageError(`${(e as Error).message.replace(/\. To specify.*$/s, "")}\n${usage}`);
  }
}

/** `--var K=V` repeated → { K: V }. */
export function keyValues(values: unknown, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of (values as string[] | undefined) ?? []) {
    const i = v.indexOf("=");
    if (i <= 0) throw new UsageError(`--${flag} ${v}: expected NAME=VALUE`);
    out[v.slice(0, i)] = v.slice(i + 1);
  }
  return out;
}

export function required(values: Record<string, unknown>, name: string, usage: string): string {
  const v = values[name];
  if (typeof v !== "string" || v === "") throw new UsageError(`--${name} is required\n${usage}`);
  return v;
}

export function positiveInt(text: string, flag: string): number {
  if (!/^[1-9][0-9]*$/.test(text))
    throw new UsageError(`--${flag} ${text}: expected a positive whole number`);
  return Number(text);
}
