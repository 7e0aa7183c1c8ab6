// The one entry: Compose text → validated manifest, or every problem found. A pipeline of
// passes like compose-go's loader: parse (YAML → located tree) → interpolate (values only) →
// normalize + validate (per field, collecting problems) → graph (depends_on order). What it makes
// has the zod schema's type; the tests hold it to the schema itself (property.test.ts,
// corpus.test.ts). Nothing here throws, whatever the input.
import * as posix from "node:path/posix";
import { MANIFEST_FORMAT_VERSION } from "../manifest/patterns";
import type { Manifest, Route, RouteHint, Service } from "../manifest/schema";
import { readVolumeBackups } from "./backup";
import { ComposeFiles } from "./compose-files";
import { type DependencyRef, orderServices } from "./depends-on";
import { parseDotenv } from "./dotenv";
import { interpolateTree, toVariables, type Variables } from "./interpolate";
import { parseYaml } from "./parse";
import { type Pos, type Problem, Problems, sortProblems } from "./problem";
import { profilesActive, readProfiles } from "./profiles";
import type { ProjectFiles } from "./project-files";
import { asMap, type Ctx, checkKeys, setKey } from "./read";
import { readRoutes } from "./routes";
import { DEFAULT_PLATFORM } from "./runtime";
import { readTopConfigs, readTopSecrets } from "./secrets";
import { type LinkRef, readService } from "./service";
import { scanDockerSocket } from "./socket";
import { readNetworks, readVolumes } from "./top-level";
import { entry, toPlain } from "./tree";

export interface LoadOptions {
  /** The file name used in problems. */
  file?: string;
  /** The project folder build contexts must stay inside (default: the file's folder, else "."). */
  projectDir?: string;
  /** Interpolation variables; the process environment is never read. */
  variables?: Record<string, string> | ReadonlyMap<string, string>;
  /** The node's platform (default linux/amd64): `platform:` and `build.platforms` must name it. */
  platform?: string;
  /**
   * The active Compose profiles (the environment's `profiles`). Services with profiles run only
   * when one is active; without any, only services without profiles run, as with Compose.
   */
  profiles?: readonly string[];
  /**
   * The project folder's files (`.env`, env_file, ...), read by path relative to it; without it
   * nothing beyond `text` is read (and env_file is refused). `diskProjectFiles(projectDir)`
   * reads them from disk.
   */
  files?: ProjectFiles;
}

/**
 * `warnings` are not errors: a host port that is not published, an environment variable left
 * unset, an obsolete `version:`.
 */
export type LoadResult =
  | { ok: true; manifest: Manifest; warnings: Problem[] }
  | { ok: false; problems: Problem[]; warnings: Problem[] };

const TOP_LEVEL = [
  "services",
  "volumes",
  "networks",
  "secrets",
  "configs",
  "name",
  "version",
  "x-berth-routes",
];
const TOP_LEVEL_EXTENSIONS = ["x-berth-routes"];

export function loadCompose(text: string, options: LoadOptions = {}): LoadResult {
  const file = options.file ?? "compose.yaml";
  const problems = new Problems(file);
  if (typeof text !== "string") {
    // Callers in TypeScript cannot get here; JavaScript callers and decoded JSON can.
    problems.error(
      { line: 1, col: 1 },
      [],
      `the Compose input must be text, not ${text === null ? "null" : Array.isArray(text) ? "an array" : `a ${typeof text}`}`,
      "pass the file's contents as a string",
    );
    return { ok: false, problems: sortProblems(problems.errors), warnings: [] };
  }
  try {
    const manifest = load(text, options, problems);
    if (problems.errors.length > 0 || !manifest) {
      if (problems.errors.length === 0)
        problems.error({ line: 1, col: 1 }, [], "the file is not a valid Compose file");
      return {
        ok: false,
        problems: sortProblems(problems.errors),
        warnings: sortProblems(problems.warnings),
      };
    }
    return { ok: true, manifest, warnings: sortProblems(problems.warnings) };
  } catch (e) {
    problems.error(
      { line: 1, col: 1 },
      [],
      `internal error while reading the file: ${(e as Error)?.message ?? String(e)}`,
      "please report this",
    );
    return { ok: false, problems: sortProblems(problems.errors), warnings: sortProblems(problems.warnings) };
  }
}

function load(text: string, options: LoadOptions, problems: Problems): Manifest | undefined {
  const parsed = parseYaml(text, problems);
  if (parsed.empty) {
    problems.error(
      { line: 1, col: 1 },
      [],
      "the file is empty",
      "a Compose file needs at least services: with one service",
    );
    return undefined;
  }
  if (!parsed.root) return undefined;
  const projectDir =
    options.projectDir ?? (options.file ? posix.dirname(options.file.replaceAll("\\", "/")) : ".");
  const ctx: Ctx = {
    problems,
    variables: projectVariables(toVariables(options.variables), options.files, problems),
    projectDir,
    ...(options.files ? { files: options.files } : {}),
    platform: options.platform ?? DEFAULT_PLATFORM,
  };

  const root = asMap(ctx, parsed.root, [], "a Compose file");
  if (!root) return undefined;
  new ComposeFiles(ctx, posix.basename(options.file ?? "compose.yaml"), text).resolve(root);
  interpolateTree(root, ctx.variables, [], problems);
  scanDockerSocket(root, [], problems);

  checkKeys(ctx, root, [], {
    accepted: TOP_LEVEL,
    berthExtensions: TOP_LEVEL_EXTENSIONS,
    rejected: {
      models: {
        message:
          "models is not supported: Compose asks a model runner on the deploying machine for them, which a node does not have",
        hint: "run the model server as a service of this file and give the app its URL in environment:",
      },
    },
    what: "top-level key",
  });

  const version = entry(root, "version");
  if (version)
    problems.warn(version.keyPos, ["version"], "version is obsolete and ignored", "remove version:");
  const name = entry(root, "name");
  if (name) {
    problems.warn(
      name.keyPos,
      ["name"],
      "name is ignored: berth names the project after the environment",
      "remove name:",
    );
  }

  const volumes = entry(root, "volumes");
  const manifestVolumes = volumes ? readVolumes(ctx, volumes.value, ["volumes"]) : {};
  const networks = entry(root, "networks");
  const manifestNetworks = networks ? readNetworks(ctx, networks.value, ["networks"]) : {};
  const topSecrets = entry(root, "secrets");
  const composeSecrets = topSecrets ? readTopSecrets(ctx, topSecrets.value, ["secrets"]) : {};
  const topConfigs = entry(root, "configs");
  const composeConfigs = topConfigs ? readTopConfigs(ctx, topConfigs.value, ["configs"]) : {};
  const declared = {
    volumes: new Set(Object.keys(manifestVolumes)),
    networks: new Set(Object.keys(manifestNetworks)),
    secrets: new Set(topSecrets?.value.kind === "map" ? topSecrets.value.entries.map((e) => e.key) : []),
    configs: new Set(topConfigs?.value.kind === "map" ? topConfigs.value.entries.map((e) => e.key) : []),
  };

  const services: Record<string, Service> = {};
  const names: string[] = [];
  const refs = new Map<string, DependencyRef[]>();
  const links = new Map<string, LinkRef[]>();
  const active = options.profiles ?? [];
  /** Services left out because none of their profiles is active, with their profiles. */
  const inactive = new Map<string, string[]>();
  const contextRefs: { from: string; key: string; to: string; pos: Pos }[] = [];
  const routeHints: RouteHint[] = [];
  const se = entry(root, "services");
  if (!se) {
    if (!entry(root, "include"))
      problems.error(root.pos, [], "there is no services: key", "add services: with at least one service");
  } else if (se.value.kind === "scalar" && se.value.value === null) {
    problems.error(se.keyPos, ["services"], "services is empty", "add at least one service");
  } else {
    const sm = asMap(ctx, se.value, ["services"], "services");
    if (sm && sm.entries.length === 0)
      problems.error(se.keyPos, ["services"], "services is empty", "add at least one service");
    for (const e of sm?.entries ?? []) {
      const p = ["services", e.key];
      if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(e.key) || e.key.length > 128) {
        problems.error(
          e.keyPos,
          p,
          `${JSON.stringify(e.key)} is not a valid service name`,
          "use letters, digits, '.', '_' or '-', starting with a letter or digit",
        );
        continue;
      }
      const profiles = readProfiles(ctx, e.value, p);
      if (profiles === undefined) continue;
      if (!profilesActive(profiles, active)) {
        inactive.set(e.key, profiles);
        problems.warn(
          e.keyPos,
          p,
          `service ${e.key} is not deployed: its profile${profiles.length > 1 ? "s" : ""} ${profiles.join(", ")} ${profiles.length > 1 ? "are" : "is"} not active`,
          "activate a profile in the environment's profiles (berth:environments[].profiles) to deploy it",
        );
        continue;
      }
      names.push(e.key);
      if (e.value.kind === "scalar" && e.value.value === null) {
        problems.error(e.keyPos, p, `service ${e.key} is empty`, "add image: or build:");
        continue;
      }
      const r = readService(ctx, e.key, e.value, p, declared);
      if (!r) continue;
      for (const [k, v] of Object.entries(r.service.build?.additionalContexts ?? {})) {
        if (v.startsWith("service:"))
          contextRefs.push({ from: e.key, key: k, to: v.slice(8), pos: e.keyPos });
      }
      setKey(services, e.key, r.service);
      refs.set(e.key, r.dependencyRefs);
      if (r.links.length > 0) links.set(e.key, r.links);
      for (const port of r.routeHints) routeHints.push({ service: e.key, port });
    }
  }
  if (names.length === 0 && inactive.size > 0) {
    problems.error(
      se?.keyPos ?? root.pos,
      ["services"],
      `no service would run: every service has profiles, and none of them is active (${active.length ? active.join(", ") : "no profiles are active"})`,
      `activate one in the environment's profiles (berth:environments[].profiles): ${[...new Set([...inactive.values()].flat())].join(", ")}`,
    );
  }
  for (const c of contextRefs) {
    const target = services[c.to];
    if (c.to === c.from || !target || (!target.build && !target.image)) {
      problems.error(
        c.pos,
        ["services", c.from, "build", "additional_contexts", c.key],
        c.to === c.from
          ? `additional context ${c.key} names the service's own image`
          : `additional context ${c.key}: there is no service ${c.to} with an image or a build${inactive.has(c.to) ? " (its profiles are not active)" : ""}`,
        "name another service of this file: service:NAME",
      );
    }
  }
  resolveLinks(ctx, services, refs, links, inactive);
  dropInactiveDependencies(ctx, services, refs, inactive);
  const order = orderServices(ctx, names, refs);
  if (volumes) readVolumeBackups(ctx, volumes.value, ["volumes"], names, manifestVolumes);

  const re = entry(root, "x-berth-routes");
  const routes: Route[] = re ? readRoutes(ctx, re.value, ["x-berth-routes"], names, inactive) : [];

  const extensions: Record<string, unknown> = {};
  for (const e of root.entries) {
    if (e.key.startsWith("x-") && !TOP_LEVEL_EXTENSIONS.includes(e.key) && !e.key.startsWith("x-berth-")) {
      setKey(extensions, e.key, toPlain(e.value));
    }
  }

  if (problems.errors.length > 0) return undefined;
  const manifest: Manifest = {
    formatVersion: MANIFEST_FORMAT_VERSION,
    services,
    order,
    volumes: manifestVolumes,
    networks: manifestNetworks,
    routes,
    routeHints,
    extensions,
  };
  // Only what a deployed service mounts travels in the release.
  const used = (k: "secrets" | "configs") =>
    new Set(Object.values(services).flatMap((s) => (s[k] ?? []).map((f) => f.source)));
  const usedSecrets = used("secrets");
  if (usedSecrets.size > 0)
    manifest.secrets = Object.fromEntries(Object.entries(composeSecrets).filter(([n]) => usedSecrets.has(n)));
  const usedConfigs = used("configs");
  if (usedConfigs.size > 0)
    manifest.configs = Object.fromEntries(Object.entries(composeConfigs).filter(([n]) => usedConfigs.has(n)));
  // The manifest is built field by field from checked values, typed by the schema's own type; the
  // tests parse what the loader makes with the zod schema (property.test.ts: generated files,
  // corpus.test.ts: compose-go's), so a `berth validate` does not build the schema to re-check it.
  return manifest;
}

/**
 * The variables interpolation sees: the project folder's `.env` (read as Compose reads it), with
 * the stack's variables winning over it. The process environment is never read.
 */
export function projectVariables(
  stack: Variables,
  files: ProjectFiles | undefined,
  problems: Problems,
): Variables {
  const r = files?.read(".env");
  if (!r) return stack;
  if (!r.ok) {
    if (!r.missing)
      problems.error(
        { line: 1, col: 1, file: ".env" },
        [],
        r.message,
        "make .env a plain file inside the project folder, or remove it",
      );
    return stack;
  }
  const parsed = parseDotenv(r.text, { file: ".env", lookup: (n) => stack.get(n) });
  for (const p of parsed.problems) problems.error(p.pos, [], p.message, p.hint);
  const merged = new Map(parsed.values);
  for (const [k, v] of stack) merged.set(k, v);
  return merged;
}

/**
 * `links`: as Compose, each linked service becomes a dependency (started, restarted with it,
 * required) unless depends_on names it already; its alias becomes a network alias of the linked
 * service on every network the two share (Compose scopes a link's alias to the linking
 * container; on the environment's own networks berth's alias is seen by all its services).
 */
function resolveLinks(
  ctx: Ctx,
  services: Record<string, Service>,
  refs: Map<string, DependencyRef[]>,
  links: ReadonlyMap<string, LinkRef[]>,
  inactive: ReadonlyMap<string, string[]>,
): void {
  for (const [name, list] of links) {
    const s = services[name];
    if (!s) continue;
    for (const l of list) {
      const target = Object.hasOwn(services, l.name) ? services[l.name] : undefined;
      if (!target) {
        if (inactive.has(l.name)) {
          // Reported as a dependency on an inactive service.
          refs.get(name)?.push(l);
          continue;
        }
        ctx.problems.error(
          l.pos,
          l.path,
          `link to ${l.name}: there is no service ${l.name} in this file`,
          "name a service of this file: SERVICE or SERVICE:ALIAS",
        );
        continue;
      }
      if (!Object.hasOwn(s.dependsOn, l.name)) {
        setKey(s.dependsOn, l.name, { condition: "service_started", restart: true, required: true });
        refs.get(name)?.push(l);
      }
      if (l.alias === l.name) continue;
      for (const n of Object.keys(s.networks)) {
        const aliases = Object.hasOwn(target.networks, n) ? target.networks[n]?.aliases : undefined;
        if (aliases && !aliases.includes(l.alias)) aliases.push(l.alias);
      }
    }
  }
}

/**
 * A service that depends on one whose profiles are not active: Compose refuses a required
 * dependency (it would never start) and drops one written with `required: false`.
 */
function dropInactiveDependencies(
  ctx: Ctx,
  services: Record<string, Service>,
  refs: Map<string, DependencyRef[]>,
  inactive: ReadonlyMap<string, string[]>,
): void {
  for (const [name, list] of refs) {
    const s = services[name];
    const kept: DependencyRef[] = [];
    for (const r of list) {
      const profiles = inactive.get(r.name);
      if (!profiles) {
        kept.push(r);
        continue;
      }
      if (s?.dependsOn[r.name]?.required === false) {
        delete s.dependsOn[r.name];
        continue;
      }
      ctx.problems.error(
        r.pos,
        r.path,
        `service ${name} depends on ${r.name}, which runs only with the profile${profiles.length > 1 ? "s" : ""} ${profiles.join(", ")}, not active here`,
        `activate ${profiles.length > 1 ? "one of them" : "it"} in the environment's profiles (berth:environments[].profiles), or mark the dependency required: false`,
      );
    }
    refs.set(name, kept);
  }
}
