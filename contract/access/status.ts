// The node's record of access sessions, published at `nodes/<node>/status/access/sessions.json`:
// who, what, when, and how it ended, refusals included. Newest last, bounded.
import * as z from "zod";

export const MAX_SESSIONS_IN_STATUS = 200;
/**
 * Refusals are kept apart, fewer: a refusal can come from anyone who reaches the node (a malformed
 * or forged token), so a flood of them must never push an operator's sessions out of the record.
 */
export const MAX_REFUSALS_IN_STATUS = 50;

export const accessSessionRecord = z.object({
  id: z.string(),
  operator: z.string().optional(),
  keyId: z.string().optional(),
  target: z.object({ kind: z.string(), id: z.string() }),
  action: z.string(),
  /** What was asked: service, command line, path or port (never a file's content). */
  detail: z.string().optional(),
  /** Where the request came from, as the node's proxy saw it. */
  from: z.string().optional(),
  startedAt: z.string(),
  endedAt: z.string().optional(),
  exitCode: z.number().int().optional(),
  /** A refused request: the refusal's code and reason. */
  refused: z.object({ code: z.string(), reason: z.string() }).optional(),
  error: z.string().optional(),
});
export type AccessSessionRecord = z.infer<typeof accessSessionRecord>;

export const accessStatus = z.object({
  formatVersion: z.literal(1),
  nodeId: z.string(),
  sessions: z.array(accessSessionRecord),
  updatedAt: z.string(),
});
export type AccessStatus = z.infer<typeof accessStatus>;
