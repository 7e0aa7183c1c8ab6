// The names a stack's objects get in the swarm. Swarm secrets and configs are immutable, so a
// changed value needs a new name for a service to roll over to it: each carries a version.
//
// - A config's version is the SHA-256 of its content (configs travel in the signed release anyway).
// - A secret's version is an HMAC-SHA256 of (environment, name, value) under a key only the
//   program holds: a plain hash of the value would let anyone who reads the release (the channel,
//   the state) test guesses of a weak secret against it. The same value keeps its name from one
//   release to the next (no needless restart); a changed value gets a new name, and the rolling
//   update moves the service's tasks to it.
import { createHash, createHmac } from "node:crypto";
import { canonicalJson } from "../payload/canonical";

/** Docker's rule for secret and config names (swarmkit): at most 64 characters. */
const SWARM_OBJECT_NAME = /^[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?$/;
const MAX_NAME = 64;
const VERSION_HEX = 12;

/** The label that names a swarm node by its berth node id; placement constraints select on it. */
export const NODE_LABEL = "berth.node";

export function secretVersion(key: Uint8Array, environmentId: string, name: string, value: string): string {
  if (key.length < 32) throw new Error("secretVersion: the version key must be at least 32 bytes");
  return createHmac("sha256", key)
    .update(canonicalJson({ domain: "berth/swarm-secret-version/v1", environmentId, name, value }))
    .digest("hex")
    .slice(0, VERSION_HEX);
}

export function configVersion(content: string): string {
  return createHash("sha256").update(content, "utf8").digest("hex").slice(0, VERSION_HEX);
}

/**
 * `berth_<env>_<name>_<version>`, shortened to Docker's 64 characters: the environment and the name
 * are cut (never the version), and characters Docker refuses become `-`.
 */
export function swarmObjectName(environmentId: string, name: string, version: string): string {
  if (!/^[0-9a-f]{12}$/.test(version))
    throw new Error(`swarmObjectName: version ${JSON.stringify(version)} is not 12 hex digits`);
  const clean = name.replace(/[^a-zA-Z0-9_.-]/g, "-");
  const room = MAX_NAME - "berth___".length - version.length;
  const envPart = environmentId.slice(0, Math.min(environmentId.length, Math.ceil(room / 2)));
  const namePart = clean.slice(0, room - envPart.length).replace(/[-_.]+$/, "") || "x";
  const out = `berth_${envPart}_${namePart}_${version}`;
  if (!SWARM_OBJECT_NAME.test(out))
    throw new Error(`swarmObjectName: ${JSON.stringify(out)} is not a name Docker accepts`);
  return out;
}

/** The stack's name in the swarm: the environment id (`docker stack deploy … berth-<env>`). */
export function stackName(environmentId: string): string {
  return `berth-${environmentId}`;
}
