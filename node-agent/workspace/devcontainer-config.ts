// Finds and reads a repository's devcontainer config with a real JSONC parser (jsonc-parser, the
// one VS Code and the devcontainer CLI use), never with regexes. Where it is looked for follows
// the devcontainer CLI: `.devcontainer/devcontainer.json`, then `.devcontainer.json`; named
// configs live one level down, `.devcontainer/<name>/devcontainer.json`. Errors name the file
// and the line:column of the problem.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, posix } from "node:path";
import {
  findNodeAtLocation,
  getNodeValue,
  type Node as JsonNode,
  type ParseError,
  parseTree,
  printParseErrorCode,
} from "jsonc-parser";
import * as z from "zod";

/** The name of the config found at `.devcontainer/devcontainer.json` or `.devcontainer.json`. */
export const DEFAULT_CONFIG_NAME = "default";

export class DevcontainerConfigError extends Error {
  constructor(
    /** The file, relative to the repository (or as given). */
    readonly file: string,
    readonly problem: string,
    /** 1-based; undefined when the problem has no position (a missing file). */
    readonly line?: number,
    readonly column?: number,
  ) {
    super(line !== undefined ? `${file}:${line}:${column}: ${problem}` : `${file}: ${problem}`);
    this.name = "DevcontainerConfigError";
  }
}

/** 1-based line and column of a character offset (columns count UTF-16 code units, as editors do). */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  const end = Math.min(Math.max(offset, 0), text.length);
  for (let i = 0; i < end; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 10 /* \n */) {
      line++;
      lineStart = i + 1;
    } else if (ch === 13 /* \r */ && text.charCodeAt(i + 1) !== 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: end - lineStart + 1 };
}

const command = z.union([
  z.string(),
  z.array(z.string()),
  z.record(z.string(), z.union([z.string(), z.array(z.string())])),
]);

const featureOptions = z.union([
  z.string(), // shorthand for { "version": "..." }
  z.boolean(),
  z.record(z.string(), z.union([z.string(), z.boolean(), z.number()])),
]);

const build = z.looseObject({
  dockerfile: z.string().min(1).optional(),
  context: z.string().min(1).optional(),
  args: z.record(z.string(), z.string()).optional(),
  target: z.string().min(1).optional(),
  options: z.array(z.string()).optional(),
  cacheFrom: z.union([z.string(), z.array(z.string())]).optional(),
});

/**
 * The fields that decide the image (and the few the agent needs); every other property of
 * devcontainer.json is kept as it was written (`raw`).
 */
export const devcontainerConfigSchema = z.looseObject({
  name: z.string().optional(),
  image: z.string().min(1).optional(),
  build: build.optional(),
  // Older spellings the CLI still reads.
  dockerFile: z.string().min(1).optional(),
  context: z.string().min(1).optional(),
  dockerComposeFile: z.union([z.string(), z.array(z.string())]).optional(),
  features: z.record(z.string().min(1), featureOptions).optional(),
  overrideFeatureInstallOrder: z.array(z.string().min(1)).optional(),
  updateRemoteUserUID: z.boolean().optional(),
  remoteUser: z.string().optional(),
  containerUser: z.string().optional(),
  initializeCommand: command.optional(),
});
export type DevcontainerConfig = z.infer<typeof devcontainerConfigSchema>;

/** Where a config lives: its name and its path relative to the repository (POSIX separators). */
export interface DevcontainerConfigRef {
  name: string;
  file: string;
}

export type BuildKind = "image" | "dockerfile" | "compose";

/** What the image is made from, with every path resolved relative to the repository root. */
export interface ResolvedBuild {
  kind: BuildKind;
  image?: string;
  /** Repository-relative path of the Dockerfile. */
  dockerfile?: string;
  /** Repository-relative build context ("." is the repository root). */
  context?: string;
  args: Record<string, string>;
  target?: string;
  options: string[];
}

export interface DevcontainerConfigFile extends DevcontainerConfigRef {
  /** The folder of the config file, repository-relative ("." for the root). */
  dir: string;
  text: string;
  config: DevcontainerConfig;
  build: ResolvedBuild;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Every config of a repository: the default one first (when present), then named ones by name. */
export function listDevcontainerConfigs(repoDir: string): DevcontainerConfigRef[] {
  const out: DevcontainerConfigRef[] = [];
  const def = findDefault(repoDir);
  if (def) out.push(def);
  const folder = join(repoDir, ".devcontainer");
  if (existsSync(folder) && statSync(folder).isDirectory()) {
    const names = readdirSync(folder, { withFileTypes: true })
      .filter((d) => d.isDirectory() && isFile(join(folder, d.name, "devcontainer.json")))
      .map((d) => d.name)
      .sort();
    for (const name of names) out.push({ name, file: `.devcontainer/${name}/devcontainer.json` });
  }
  return out;
}

function findDefault(repoDir: string): DevcontainerConfigRef | undefined {
  for (const file of [".devcontainer/devcontainer.json", ".devcontainer.json"]) {
    if (isFile(join(repoDir, file))) return { name: DEFAULT_CONFIG_NAME, file };
  }
  return undefined;
}

/**
 * The config to use: the named one, or the default one. Undefined when the repository has no
 * config at all (the caller starts the default image); an error for a name that does not exist.
 */
export function findDevcontainerConfig(repoDir: string, name?: string): DevcontainerConfigRef | undefined {
  const all = listDevcontainerConfigs(repoDir);
  if (name === undefined || name === DEFAULT_CONFIG_NAME) {
    const def = all.find(
      (c) => c.file === ".devcontainer/devcontainer.json" || c.file === ".devcontainer.json",
    );
    if (def || name === undefined) return def;
  }
  const found = all.find(
    (c) => c.name === name && c.file.startsWith(".devcontainer/") && c.file.split("/").length === 3,
  );
  if (found) return found;
  const known = all.map((c) => c.name).join(", ") || "none";
  throw new DevcontainerConfigError(
    `.devcontainer/${name}/devcontainer.json`,
    `no devcontainer config named "${name}" (configs in this repository: ${known})`,
  );
}

/** Reads and validates a config; undefined when the repository has none (see findDevcontainerConfig). */
export function readDevcontainerConfig(repoDir: string, name?: string): DevcontainerConfigFile | undefined {
  const ref = findDevcontainerConfig(repoDir, name);
  if (!ref) return undefined;
  const text = readFileSync(join(repoDir, ref.file), "utf8");
  return parseDevcontainerConfig(text, ref);
}

function fail(ref: DevcontainerConfigRef, text: string, offset: number, problem: string): never {
  const { line, column } = lineColumn(text, offset);
  throw new DevcontainerConfigError(ref.file, problem, line, column);
}

function describePath(path: readonly (string | number | symbol)[]): string {
  return path
    .map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`))
    .join("");
}

/** Parses a config's text (JSON with comments and trailing commas), validates it, resolves its paths. */
export function parseDevcontainerConfig(text: string, ref: DevcontainerConfigRef): DevcontainerConfigFile {
  const errors: ParseError[] = [];
  // A byte-order mark is not JSON, but editors write it; the CLI reads past it too.
  const body = text.charCodeAt(0) === 0xfeff ? ` ${text.slice(1)}` : text;
  const tree = parseTree(body, errors, { allowTrailingComma: true, disallowComments: false });
  const first = errors[0];
  if (first)
    fail(ref, body, first.offset, `not valid JSON with comments: ${printParseErrorCode(first.error)}`);
  if (tree?.type !== "object")
    fail(ref, body, tree?.offset ?? 0, "a devcontainer config must be a JSON object");
  const value: unknown = getNodeValue(tree);
  const parsed = devcontainerConfigSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const node = nearestNode(
      tree,
      issue.path.filter((p): p is string | number => typeof p !== "symbol"),
    );
    fail(ref, body, node.offset, `${describePath(issue.path) || "(root)"}: ${issue.message}`);
  }
  const dir = posix.dirname(ref.file);
  const build = resolveBuild(parsed.data, dir, (path, problem) => {
    fail(ref, body, nearestNode(tree, path).offset, problem);
  });
  return { ...ref, dir, text, config: parsed.data, build };
}

/** The node at a path, or its closest existing ancestor (for a missing property: the object). */
function nearestNode(tree: JsonNode, path: (string | number)[]): JsonNode {
  for (let n = path.length; n >= 0; n--) {
    const node = findNodeAtLocation(tree, path.slice(0, n));
    if (node) {
      // Point at the property's name rather than its value when the value is what is wrong.
      return node.parent?.type === "property" && node.parent.children?.[1] === node ? node.parent : node;
    }
  }
  return tree;
}

/** A path written in the config, relative to the config's folder, as a repository-relative path. */
export function resolveInRepo(configDir: string, path: string): string | undefined {
  const p = posix.normalize(posix.join(configDir, path.replace(/\\/g, "/")));
  if (posix.isAbsolute(path) || p === ".." || p.startsWith("../")) return undefined;
  return p.replace(/\/$/, "") || ".";
}

function resolveBuild(
  c: DevcontainerConfig,
  dir: string,
  problem: (path: (string | number)[], message: string) => never,
): ResolvedBuild {
  const args = c.build?.args ?? {};
  const options = c.build?.options ?? [];
  if (c.dockerComposeFile !== undefined) return { kind: "compose", args, options };
  const dockerfile = c.build?.dockerfile ?? c.dockerFile;
  if (dockerfile !== undefined) {
    const dockerfilePath = c.build?.dockerfile !== undefined ? ["build", "dockerfile"] : ["dockerFile"];
    const contextPath = c.build?.context !== undefined ? ["build", "context"] : ["context"];
    const df = resolveInRepo(dir, dockerfile);
    if (df === undefined)
      problem(dockerfilePath, `the Dockerfile ${JSON.stringify(dockerfile)} is outside the repository`);
    const rawContext = c.build?.context ?? c.context ?? ".";
    const context = resolveInRepo(dir, rawContext);
    if (context === undefined)
      problem(contextPath, `the build context ${JSON.stringify(rawContext)} is outside the repository`);
    return { kind: "dockerfile", dockerfile: df, context, args, target: c.build?.target, options };
  }
  if (c.image !== undefined) return { kind: "image", image: c.image, args, options };
  return problem([], 'a devcontainer config needs "image", "build.dockerfile" or "dockerComposeFile"');
}
