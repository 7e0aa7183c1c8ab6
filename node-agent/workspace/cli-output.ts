// What the devcontainer CLI and BuildKit print, read: the CLI's result line, its JSON log as the
// text a person reads, a failure in a few lines, and whether a build ran every step. Pure.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { stripVTControlCharacters } from "node:util";
import { lastLines, ProcessError } from "../../lib/process";

/** The devcontainer CLI beside this project (or the agent bundle's node_modules). */
export function defaultDevcontainerCli(): string {
  const pkg = require.resolve("@devcontainers/cli/package.json");
  return join(pkg, "..", "devcontainer.js");
}

export function devcontainerCliVersion(cli: string): string {
  const pkg = join(cli, "..", "package.json");
  return (JSON.parse(readFileSync(pkg, "utf8")) as { version: string }).version;
}

export function dockerArchitecture(arch = process.arch): string {
  return (
    (
      { x64: "amd64", arm64: "arm64", arm: "arm", ppc64: "ppc64le", s390x: "s390x" } as Record<string, string>
    )[arch] ?? arch
  );
}

/** The last JSON object line of the CLI's stdout (its result). */
export function cliResult(stdout: string): Record<string, unknown> | undefined {
  for (const line of stdout.trim().split("\n").reverse()) {
    const t = line.trim();
    if (!t.startsWith("{")) continue;
    try {
      const v = JSON.parse(t) as Record<string, unknown>;
      if ("outcome" in v) return v;
    } catch {
      // a log line
    }
  }
  return undefined;
}

/**
 * The CLI's JSON log lines (`--log-format json`) as the text a person reads: each entry's text
 * (BuildKit's plain progress among them), colours removed; other lines as they are.
 */
export function readableCliLog(...outputs: string[]): string {
  const out: string[] = [];
  for (const line of outputs.join("\n").split("\n")) {
    const t = line.trim();
    if (t === "") continue;
    let text = line;
    if (t.startsWith("{")) {
      try {
        const v = JSON.parse(t) as { text?: unknown; outcome?: unknown; message?: unknown };
        if (typeof v.text === "string") text = v.text;
        else if (v.outcome !== undefined) text = `result: ${t}`;
      } catch {
        // not JSON after all
      }
    }
    const clean = stripVTControlCharacters(text).replace(/\r/g, "").trimEnd();
    if (clean !== "") out.push(clean);
  }
  return `${out.join("\n")}\n`;
}

/**
 * What went wrong in a failed command, in a few lines a person reads: for the devcontainer CLI,
 * its result's description and BuildKit's last `ERROR:` line (the failing step and its exit
 * code), never the CLI's own stack trace; for other commands, the message's last lines.
 */
export function failureSummary(e: unknown, lines = 3): string {
  const message = e instanceof Error ? e.message : String(e);
  const withoutStack = message
    .split("\n")
    .filter((l) => !/^\s+at /.test(l))
    .join("\n");
  if (!(e instanceof ProcessError)) return lastLines(withoutStack, lines);
  const result = cliResult(e.result.stdout);
  const description = typeof result?.description === "string" ? result.description : undefined;
  const buildError = readableCliLog(e.result.stdout, e.result.stderr)
    .split("\n")
    .reverse()
    .find((l) => /^(#\d+ )?ERROR: /.test(l))
    ?.replace(/^#\d+ /, "");
  if (!description && !buildError) return lastLines(withoutStack, lines);
  return [description, buildError].filter((x) => x !== undefined).join(" ");
}

/**
 * A build ran every Dockerfile step (none came from a cache), so its image's inline cache covers
 * every layer: BuildKit's plain progress has no `#N CACHED` for a `#N [stage i/n] ...` step
 * other than FROM.
 */
export function ranEveryStep(buildLog: string): boolean {
  const lines = buildLog.split("\n");
  const steps = new Set<string>();
  for (const l of lines) {
    const m = l.match(/^#(\d+) \[[^\]]* \d+\/\d+\] (\S+)/);
    if (m && m[2] !== "FROM") steps.add(m[1]!);
  }
  return (
    steps.size > 0 &&
    !lines.some((l) => {
      const m = l.match(/^#(\d+) CACHED$/);
      return m !== null && steps.has(m[1]!);
    })
  );
}
