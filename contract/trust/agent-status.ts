// What a node reports about its agent (`nodes/<node>/status/agent/state.json`): the version it
// runs, the trust set it holds (and why it refused one), and how its last agent upgrade went.
import * as z from "zod";

export const trustStatusSchema = z.object({
  generation: z.number().int().nonnegative(),
  releaseKeyIds: z.array(z.string()),
  rootKeyIds: z.array(z.string()),
  revoked: z.array(z.string()),
  expiresAt: z.string().optional(),
  /** The last trust set this node refused, with the reason (its current set stays in force). */
  refused: z.object({ at: z.string(), reason: z.string() }).optional(),
});
export type TrustStatus = z.infer<typeof trustStatusSchema>;

export const upgradeStatusSchema = z.object({
  /**
   * trial: the new agent runs and has not reported yet; installed: it reported in time;
   * rolled-back: it did not, the previous agent runs again; refused: the bundle was not installed.
   */
  state: z.enum(["trial", "installed", "rolled-back", "refused"]),
  /** The version offered (or installed). */
  version: z.string(),
  /** The version that ran before. */
  from: z.string(),
  at: z.string(),
  reason: z.string().optional(),
});
export type UpgradeStatus = z.infer<typeof upgradeStatusSchema>;

export const agentStatusSchema = z.object({
  formatVersion: z.literal(1),
  nodeId: z.string(),
  agentVersion: z.string(),
  updatedAt: z.string(),
  trust: trustStatusSchema,
  upgrade: upgradeStatusSchema.optional(),
});
export type AgentStatus = z.infer<typeof agentStatusSchema>;
