// What the node publishes as nodes/<node>/identity.json and how it signs its statuses: the keys
// from node-keys.ts, MACed with the enrollment secret the program gave it (agent config
// `enrollmentSecretFile`; contract/channel/node-identity.ts has the format).
import { readFileSync } from "node:fs";
import { IDENTITY_FORMAT, identityDocument } from "../contract/channel/node-identity";
import type { EnvironmentStatus } from "../contract/channel/status";
import { signStatus } from "../contract/channel/status-signature";
import { AGENT_VERSION } from "./version";

export class NodeIdentityError extends Error {}

/** The enrollment secret from its file (0600, written by cloud-init or the local node). */
export function readEnrollmentSecret(file: string | undefined): string {
  if (!file)
    throw new NodeIdentityError(
      "the agent's config names no enrollmentSecretFile: the program cannot accept this node's identity (cloud-init writes it; for a hand-made node, put the secret the program derives for it there)",
    );
  try {
    return readFileSync(file, "utf8").trim();
  } catch (e) {
    throw new NodeIdentityError(
      `cannot read the enrollment secret ${file} (${(e as NodeJS.ErrnoException).code}): the node cannot prove its identity`,
    );
  }
}

/** The identity document this node publishes. */
export function nodeIdentityText(
  nodeId: string,
  keys: { publicKey: string; statusKey: string },
  enrollmentSecret: string,
  now = new Date(),
): string {
  const fields = {
    nodeId,
    publicKey: keys.publicKey,
    statusKey: keys.statusKey,
    agentVersion: AGENT_VERSION,
    publishedAt: now.toISOString(),
  };
  // Without its enrollment secret (a node made before enrollment, a config without the file) the
  // node still says who it is, with an empty MAC: the program refuses the document and says why,
  // instead of the agent stopping at start and leaving its environments unserved.
  if (!enrollmentSecret)
    return `${JSON.stringify({ formatVersion: IDENTITY_FORMAT, ...fields, mac: "" }, null, 2)}\n`;
  return identityDocument(fields, enrollmentSecret);
}

/** A status as the node writes it: signed with its status key. */
export function signedStatusText(status: EnvironmentStatus, statusPrivateKey: string): string {
  return signStatus(status, statusPrivateKey);
}
