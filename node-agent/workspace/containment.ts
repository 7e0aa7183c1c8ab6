// What an untrusted workspace (a branch anyone can push, a coding agent's among them) may ask of
// the node: a declared allowlist of devcontainer properties, checked on devcontainer.json and its
// local Features before the build, and on the built image's `devcontainer.metadata` label (the
// merge of the base image's label, every Feature's metadata and the config) after it, before the
// container starts. Anything not on the list is refused, with the property, where it was found
// and what to do instead; trusted workspaces are not checked (docs/workspaces.md has the table).
// Pure but for checkUntrustedRepository, which reads the local Features' files.
import { existsSync, readFileSync } from "node:fs";
import { join, posix } from "node:path";
import { parse } from "jsonc-parser";
import { resolveInRepo } from "./devcontainer-config";

export interface Refusal {
  /** The property, as a path (`build.options`, `mounts[1]`). */
  property: string;
  /** Where it was found: a repository file, or the image label (with the entry's Feature id). */
  source: string;
  /** Why it is refused. */
  problem: string;
}

/** What to do instead, said once for every refusal. */
export const REFUSAL_REMEDY =
  "drop the property from the branch, or mark the workspace trusted in the stack (trusted: true) if its branch is reviewed";

type Rule = "allow" | ((value: unknown, ctx: Context) => string | undefined);
interface Context {
  /** Named volumes the workspace may mount start with this. */
  volumePrefix: string;
}

const REFUSED: Record<string, string> = {
  runArgs:
    "is passed to `docker run` as written (--privileged, host namespaces, binds of the node's folders)",
  workspaceMount: "decides which of the node's folders is bound into the container",
  dockerComposeFile:
    "a Compose-based config starts containers (binds, privileges, ports) the agent cannot check",
  service: "a Compose-based config starts containers the agent cannot check",
  runServices: "a Compose-based config starts containers the agent cannot check",
  privileged: "gives the container every capability and the node's devices",
  capAdd: "adds kernel capabilities to the container",
  securityOpt: "turns off the container's seccomp, AppArmor or no-new-privileges confinement",
  appPort: "publishes ports on the node",
};

const NOT_ON_LIST = "is not on the allowlist of properties for untrusted workspaces";

/** A flag-like property that is harmless when off (false, an empty list). */
const offOnly =
  (problem: string): Rule =>
  (v) =>
    v === undefined || v === false || (Array.isArray(v) && v.length === 0) ? undefined : problem;

const MOUNT_KEYS = new Set(["type", "source", "src", "target", "destination", "dst", "readonly", "ro"]);

/** A mount is allowed only as a named volume of this workspace, with no driver options. */
function mountProblem(m: unknown, ctx: Context): string | undefined {
  let fields: Record<string, unknown>;
  if (typeof m === "string") {
    fields = {};
    for (const part of m.split(",")) {
      const eq = part.indexOf("=");
      const k = (eq < 0 ? part : part.slice(0, eq)).trim();
      fields[k] = eq < 0 ? true : part.slice(eq + 1).trim();
    }
  } else if (m && typeof m === "object" && !Array.isArray(m)) {
    fields = m as Record<string, unknown>;
  } else {
    return "is not a mount";
  }
  const extra = Object.keys(fields).filter((k) => !MOUNT_KEYS.has(k));
  if (extra.length > 0)
    return `sets ${extra.join(", ")} (volume drivers and their options can bind the node's folders)`;
  const source = fields.source ?? fields.src;
  if (fields.type !== "volume")
    return `is a ${String(fields.type ?? "bind")} mount of ${JSON.stringify(source ?? "?")}: only named volumes of the workspace (${ctx.volumePrefix}*) may be mounted`;
  if (typeof source !== "string" || !source.startsWith(ctx.volumePrefix) || !/^[A-Za-z0-9_.-]+$/.test(source))
    return `mounts the volume ${JSON.stringify(source ?? "(anonymous)")}: only named volumes of the workspace (${ctx.volumePrefix}*) may be mounted`;
  return undefined;
}

const mounts: Rule = (v, ctx) => {
  if (!Array.isArray(v)) return "must be a list of mounts";
  const bad = v.map((m, i) => [i, mountProblem(m, ctx)] as const).filter(([, p]) => p !== undefined);
  return bad.length > 0 ? bad.map(([i, p]) => `[${i}] ${p}`).join("; ") : undefined;
};

const BUILD_KEYS = new Set(["dockerfile", "context", "args", "target"]);
const build: Rule = (v) => {
  if (!v || typeof v !== "object") return undefined;
  const keys = Object.keys(v as object);
  if (keys.includes("options"))
    return "sets options: they are appended to `docker buildx build` as written (build contexts, secrets and SSH agents from the node's files, host networking)";
  const extra = keys.filter((k) => !BUILD_KEYS.has(k));
  return extra.length > 0 ? `sets ${extra.join(", ")}, which ${NOT_ON_LIST}` : undefined;
};

const hostRequirements: Rule = (v) => {
  if (!v || typeof v !== "object") return undefined;
  const gpu = (v as Record<string, unknown>).gpu;
  return gpu !== undefined && gpu !== false ? "asks for the node's GPUs" : undefined;
};

/** The properties an untrusted devcontainer.json may set: everything that stays inside the container. */
export const UNTRUSTED_CONFIG_ALLOWLIST: Readonly<Record<string, Rule>> = {
  $schema: "allow",
  name: "allow",
  image: "allow",
  build,
  dockerFile: "allow",
  context: "allow",
  features: "allow",
  overrideFeatureInstallOrder: "allow",
  workspaceFolder: "allow",
  // Runs on the node: the agent drops it unless the declaration allows it.
  initializeCommand: "allow",
  onCreateCommand: "allow",
  updateContentCommand: "allow",
  postCreateCommand: "allow",
  postStartCommand: "allow",
  postAttachCommand: "allow",
  waitFor: "allow",
  containerEnv: "allow",
  remoteEnv: "allow",
  containerUser: "allow",
  remoteUser: "allow",
  updateRemoteUserUID: "allow",
  userEnvProbe: "allow",
  overrideCommand: "allow",
  shutdownAction: "allow",
  init: "allow",
  customizations: "allow",
  forwardPorts: "allow",
  portsAttributes: "allow",
  otherPortsAttributes: "allow",
  secrets: "allow",
  hostRequirements,
  mounts,
};

/** The properties an image label entry (the CLI's merge of base image, Features and config) may carry. */
export const UNTRUSTED_LABEL_ALLOWLIST: Readonly<Record<string, Rule>> = {
  id: "allow",
  init: "allow",
  entrypoint: "allow",
  customizations: "allow",
  containerEnv: "allow",
  remoteEnv: "allow",
  containerUser: "allow",
  remoteUser: "allow",
  updateRemoteUserUID: "allow",
  userEnvProbe: "allow",
  overrideCommand: "allow",
  shutdownAction: "allow",
  forwardPorts: "allow",
  portsAttributes: "allow",
  otherPortsAttributes: "allow",
  onCreateCommand: "allow",
  updateContentCommand: "allow",
  postCreateCommand: "allow",
  postStartCommand: "allow",
  postAttachCommand: "allow",
  waitFor: "allow",
  hostRequirements,
  mounts,
  privileged: offOnly(REFUSED.privileged!),
  capAdd: offOnly(REFUSED.capAdd!),
  securityOpt: offOnly(REFUSED.securityOpt!),
};

/** A local Feature's devcontainer-feature.json: its description, and what it adds to the container. */
export const UNTRUSTED_FEATURE_ALLOWLIST: Readonly<Record<string, Rule>> = {
  ...UNTRUSTED_LABEL_ALLOWLIST,
  version: "allow",
  name: "allow",
  description: "allow",
  documentationURL: "allow",
  licenseURL: "allow",
  keywords: "allow",
  options: "allow",
  installsAfter: "allow",
  dependsOn: "allow",
  legacyIds: "allow",
  deprecated: "allow",
  $schema: "allow",
};

function check(
  value: Record<string, unknown>,
  allowlist: Readonly<Record<string, Rule>>,
  source: string,
  ctx: Context,
  prefix = "",
): Refusal[] {
  const out: Refusal[] = [];
  for (const [k, v] of Object.entries(value)) {
    const property = `${prefix}${k}`;
    const rule = Object.hasOwn(allowlist, k) ? allowlist[k] : undefined;
    let problem: string | undefined;
    if (rule === undefined) problem = REFUSED[k] ?? NOT_ON_LIST;
    else if (rule !== "allow") problem = rule(v, ctx);
    if (problem !== undefined) out.push({ property, source, problem });
  }
  return out;
}

/** devcontainer.json of an untrusted workspace. */
export function checkUntrustedConfig(
  config: Record<string, unknown>,
  file: string,
  volumePrefix: string,
): Refusal[] {
  return check(config, UNTRUSTED_CONFIG_ALLOWLIST, file, { volumePrefix });
}

/** A local Feature's devcontainer-feature.json. */
export function checkUntrustedFeature(
  feature: Record<string, unknown>,
  file: string,
  volumePrefix: string,
): Refusal[] {
  return check(feature, UNTRUSTED_FEATURE_ALLOWLIST, file, { volumePrefix });
}

/**
 * The image's `devcontainer.metadata` label (JSON: a list of entries, or one), which the CLI's
 * `up` applies: an image whose label cannot be read is refused too.
 */
export function checkUntrustedLabel(
  label: string | undefined,
  image: string,
  volumePrefix: string,
): Refusal[] {
  if (label === undefined || label === "" || label === "<no value>") return [];
  const source = `the label devcontainer.metadata of ${image}`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(label);
  } catch {
    return [{ property: "devcontainer.metadata", source, problem: "is not JSON" }];
  }
  const entries = Array.isArray(parsed) ? parsed : [parsed];
  return entries.flatMap((e, i) => {
    if (!e || typeof e !== "object" || Array.isArray(e))
      return [{ property: `[${i}]`, source, problem: "is not an object" }];
    const id = (e as { id?: unknown }).id;
    const where = typeof id === "string" ? `${source} (entry ${i}, from ${id})` : `${source} (entry ${i})`;
    return check(e as Record<string, unknown>, UNTRUSTED_LABEL_ALLOWLIST, where, { volumePrefix });
  });
}

/** One line per refusal, and what to do instead: the workspace's status error. */
export function describeRefusals(refusals: readonly Refusal[]): string {
  const lines = refusals.map((r) => `- "${r.property}" in ${r.source} ${r.problem}`);
  return `untrusted workspace refused:\n${lines.join("\n")}\nWhat to do: ${REFUSAL_REMEDY}.`;
}

export class ContainmentError extends Error {
  constructor(readonly refusals: readonly Refusal[]) {
    super(describeRefusals(refusals));
    this.name = "ContainmentError";
  }
}

/**
 * Everything an untrusted branch asks for before its build: the config, and each local Feature's
 * devcontainer-feature.json (Features from a registry are checked in the label after the build).
 */
export function checkUntrustedRepository(
  repoDir: string,
  config: { file: string; dir: string; config: Record<string, unknown> },
  volumePrefix: string,
): Refusal[] {
  const out = checkUntrustedConfig(config.config, config.file, volumePrefix);
  const features = config.config.features;
  if (features && typeof features === "object") {
    for (const id of Object.keys(features)) {
      if (!id.startsWith("./") && !id.startsWith("../")) continue;
      const rel = resolveInRepo(config.dir, posix.join(id, "devcontainer-feature.json"));
      if (rel === undefined) {
        out.push({ property: `features.${id}`, source: config.file, problem: "is outside the repository" });
        continue;
      }
      const file = join(repoDir, rel);
      if (!existsSync(file)) continue; // the build says what is missing
      const value: unknown = parse(readFileSync(file, "utf8"), [], { allowTrailingComma: true });
      if (value && typeof value === "object" && !Array.isArray(value))
        out.push(...checkUntrustedFeature(value as Record<string, unknown>, rel, volumePrefix));
    }
  }
  return out;
}
