// What a node reports per environment, and what `pulumi up` waits for.
import { z } from "zod";

export const applyState = z.enum(["applying", "applied", "failed", "rolled-back", "removed", "rejected"]);
export type ApplyState = z.infer<typeof applyState>;

export const serviceHealth = z.object({
  name: z.string(),
  state: z.string(),
  health: z.string().optional(),
});

export const environmentStatus = z.object({
  formatVersion: z.literal(1),
  nodeId: z.string(),
  environmentId: z.string(),
  /** The release that is running (undefined before the first success). */
  appliedSequence: z.number().int().positive().optional(),
  /** The release the agent last tried. */
  attemptedSequence: z.number().int().positive().optional(),
  state: applyState,
  /** Why the attempted release failed or was rejected: the node's own words. */
  error: z.string().optional(),
  /** The last log lines of the service that failed, when one did. */
  logTail: z.string().optional(),
  services: z.array(serviceHealth).default([]),
  updatedAt: z.string(),
});
export type EnvironmentStatus = z.infer<typeof environmentStatus>;

export const nodeIdentity = z.object({
  formatVersion: z.literal(1),
  nodeId: z.string(),
  /** The node's X25519 public key, to which secrets are sealed. */
  publicKey: z.string(),
  agentVersion: z.string(),
  publishedAt: z.string(),
});
export type NodeIdentity = z.infer<typeof nodeIdentity>;

export const desiredPointer = z.object({ sequence: z.number().int().positive() });
