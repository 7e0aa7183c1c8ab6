// One stored or verified release, parsed once: the envelope's payload, the rendered Compose
// document and its `x-berth` extras. Everything that runs a release reads these fields instead
// of parsing the payload's text again.
import { parse } from "yaml";
import { type ReleasePayload, releaseEnvelopeSchema } from "../../contract/payload";
import { type NodeExtras, readNodeExtras } from "../../contract/render/node-compose";

/** What the agent reads of one rendered service (the rest of the file is Compose's business). */
export interface RenderedService {
  image?: string;
  labels?: Record<string, string>;
  healthcheck?: { disable?: boolean; test?: unknown };
  /** Compose's restart policy: `no` and `on-failure[:N]` make a one-off (a migration). */
  restart?: string;
  /** The services it waits for, by name. */
  depends_on?: Record<string, unknown>;
}

/** The rendered Compose document, parsed. */
export interface RenderedDocument {
  services?: Record<string, RenderedService>;
  [key: string]: unknown;
}

export interface Release {
  readonly sequence: number;
  readonly environmentId: string;
  /** The signed envelope as received (JSON text). */
  readonly envelope: string;
  readonly payload: ReleasePayload;
  /** `payload.compose.text`, parsed. */
  readonly document: RenderedDocument;
  /** The document's `x-berth` section. */
  readonly extras: NodeExtras;
}

/** A release from its (already verified) payload and the envelope text it came in. */
export function releaseOf(payload: ReleasePayload, envelope: string): Release {
  const document = (parse(payload.compose.text) ?? {}) as RenderedDocument;
  return {
    sequence: payload.sequence,
    environmentId: payload.environmentId,
    envelope,
    payload,
    document,
    extras: readNodeExtras(document),
  };
}

/** A release from an envelope the node stored after verifying it (not verified again). */
export function parseStoredRelease(envelope: string): Release {
  return releaseOf(releaseEnvelopeSchema.parse(JSON.parse(envelope)).payload, envelope);
}

/** The images a rendered Compose document runs, each once. */
export function imagesOf(document: RenderedDocument): string[] {
  const out = new Set<string>();
  for (const s of Object.values(document.services ?? {})) if (typeof s.image === "string") out.add(s.image);
  return [...out];
}
