// Release history and rollback, pure. A rollback is an ordinary release: the content (rendered
// Compose file, routes) of an earlier sequence, re-sequenced, sealed again with the current
// secret values (sealed boxes are bound to their sequence, and a rotated credential must stay
// rotated) and signed anew with a higher sequence, so every check a node makes applies to it.

import { createPublicKey } from "node:crypto";
import { parse } from "yaml";
import type { AccessPolicy } from "../access/schema";
import type { EnvironmentStatus } from "../channel/status";
import {
  createReleasePayload,
  type KeyInput,
  loadSigningPrivateKey,
  publicKeyText,
  type ReleasePayload,
  releaseEnvelopeSchema,
  serializeEnvelope,
  signRelease,
  verifyRelease,
} from "../payload";
import { LABEL } from "../render/node-compose";

/** The rendered file of one release, re-numbered as release `sequence` (header, x-berth, release labels). */
export function resequenceCompose(text: string, sequence: number, access?: AccessPolicy): string {
  const doc = parse(text) as Record<string, unknown> & {
    services?: Record<string, { labels?: Record<string, string> }>;
    "x-berth"?: { environmentId: string; sequence: number; access?: AccessPolicy };
  };
  const extras = doc["x-berth"];
  if (!extras || !doc.services) throw new Error("not a Compose file rendered by berth (no x-berth section)");
  extras.sequence = sequence;
  // Access is today's, never the old release's: a rollback must not bring back a removed operator.
  if (access) extras.access = access;
  else delete extras.access;
  for (const s of Object.values(doc.services)) {
    if (s.labels && LABEL.release in s.labels) s.labels[LABEL.release] = String(sequence);
  }
  const header = `# Rendered by berth for environment ${extras.environmentId}, release ${sequence}. Do not edit: the next release replaces it.\n`;
  return `${header}${JSON.stringify(doc, null, 2)}\n`;
}

/**
 * Reads release `sequence` from its envelope text, checking its signature against the trusted
 * keys (its validity window is not checked: an old release is expected to have expired).
 */
export function readPublishedRelease(
  text: string,
  o: { trustedKeys: string[]; environmentId: string; nodeId: string },
): { payload: ReleasePayload; keyId: string } {
  const env = releaseEnvelopeSchema.parse(JSON.parse(text));
  const r = verifyRelease(text, {
    trustedKeys: o.trustedKeys,
    environmentId: o.environmentId,
    nodeId: o.nodeId,
    appliedSequence: 0,
    now: new Date(Date.parse(env.payload.issuedAt) + 1000),
  });
  return { payload: r.payload, keyId: r.keyId };
}

export interface RollbackInput {
  /** The envelope of the release rolled back to, as published. */
  text: string;
  environmentId: string;
  nodeId: string;
  /** The new release's sequence (above everything published). */
  sequence: number;
  /** Current secret values: sealed again, bound to the new sequence. */
  secrets: Record<string, string>;
  nodePublicKey: KeyInput;
  signingKey: string;
  /** Keys the old release may be signed with besides the signing key's own (rotation). */
  trustedKeys?: string[];
  /** Today's access policy of the environment (replaces the old release's). */
  access?: AccessPolicy;
}

/** Release `sequence` with the content of the release in `text`: verified, re-sequenced, sealed, signed. */
export function buildRollback(i: RollbackInput): { payload: ReleasePayload; text: string } {
  const signer = publicKeyText(createPublicKey(loadSigningPrivateKey(i.signingKey)));
  const old = readPublishedRelease(i.text, {
    trustedKeys: [signer, ...(i.trustedKeys ?? [])],
    environmentId: i.environmentId,
    nodeId: i.nodeId,
  }).payload;
  const payload = createReleasePayload({
    environmentId: i.environmentId,
    nodeId: i.nodeId,
    sequence: i.sequence,
    composeText: resequenceCompose(old.compose.text, i.sequence, i.access),
    routes: old.routes,
    secrets: i.secrets,
    nodePublicKey: i.nodePublicKey,
  });
  return { payload, text: serializeEnvelope(signRelease(payload, i.signingKey)) };
}

export interface HistoryEntry {
  sequence: number;
  issuedAt: string;
  /** service → image pinned by digest. */
  images: Record<string, string>;
  /** What the node says about it: running, applied, failed, rolled-back, rejected, applying, superseded, not applied yet. */
  status: string;
  /** The signer's key id (who published it). */
  publisher: string;
  error?: string;
}

/** service → image, from a rendered file. */
export function imagesOf(composeText: string): Record<string, string> {
  const doc = parse(composeText) as { services?: Record<string, { image?: string }> };
  return Object.fromEntries(Object.entries(doc.services ?? {}).map(([n, s]) => [n, s.image ?? "?"]));
}

/** One release's status, from the node's status (its current state and its recent outcomes). */
export function releaseStatus(
  seq: number,
  s: EnvironmentStatus | undefined,
): { status: string; error?: string } {
  if (!s) return { status: "no status from the node" };
  const h = s.releases?.find((r) => r.sequence === seq);
  if (s.appliedSequence === seq && s.state !== "removed") return { status: "running" };
  if (s.attemptedSequence === seq && s.state !== "applied")
    return { status: s.state, ...(s.error ? { error: s.error } : {}) };
  if (h?.outcome) return { status: h.outcome, ...(h.error ? { error: h.error } : {}) };
  if (s.appliedSequence !== undefined && seq < s.appliedSequence) return { status: "superseded" };
  return { status: "not applied yet" };
}

/** A table for `berth releases`: newest first. */
export function formatHistory(env: string, node: string, entries: readonly HistoryEntry[]): string {
  if (entries.length === 0) return `${env} on ${node}: no releases in the channel`;
  const lines = [...entries]
    .sort((a, b) => b.sequence - a.sequence)
    .map((e) => {
      const images = Object.entries(e.images)
        .map(([s, i]) => `${s}=${i}`)
        .join(" ");
      return `${String(e.sequence).padStart(4)}  ${e.issuedAt}  ${e.status.padEnd(12)}  ${e.publisher}  ${images}${e.error ? `\n      ${e.error}` : ""}`;
    });
  return [
    `${env} on ${node}:`,
    " seq  issued                    status        publisher                                images",
    ...lines,
  ].join("\n");
}
