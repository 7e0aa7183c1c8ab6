// What a node reports about its agent (`nodes/<node>/status/agent/state.json`): the version it
// runs, the trust set it holds (and why it refused one), and how its last agent upgrade went.
// Signed by the node's status key like the environments' statuses (the same envelope, its own
// domain); whoever reads it believes only a status that verifies against the key the program pinned.
import * as z from "zod";
import { signNodeDocument, verifyNodeDocument } from "../channel/status-signature";
import type { KeyInput } from "../payload/keys";

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
  /** The offered bundle's SHA-256, from its signed manifest (absent when it did not verify). */
  sha256: z.string().optional(),
});
export type UpgradeStatus = z.infer<typeof upgradeStatusSchema>;

/**
 * A cloud workspace node's lazy pulling, as its first boot's stargz installer left it
 * (contract/node/lazy-pull.ts NODE_LAZY_PULL.outcome): on, or off with the reason (the node
 * pulls in full on overlay2); `installed` where no systemd started the services.
 */
export const lazyPullStatusSchema = z.object({
  lazyPull: z.enum(["on", "off", "installed"]),
  reason: z.string().max(2000).optional(),
  build: z.string().max(64).optional(),
  arch: z.string().max(32).optional(),
});
export type LazyPullStatus = z.infer<typeof lazyPullStatusSchema>;

export const agentStatusSchema = z.object({
  formatVersion: z.literal(1),
  nodeId: z.string(),
  agentVersion: z.string(),
  updatedAt: z.string(),
  trust: trustStatusSchema,
  upgrade: upgradeStatusSchema.optional(),
  lazyPull: lazyPullStatusSchema.optional(),
});
export type AgentStatus = z.infer<typeof agentStatusSchema>;

/** The agent's status is signed by the node's status key under its own domain (not a status's). */
export const AGENT_STATUS_DOMAIN = "berth/agent-status/v1";

/** The text of `status/agent/state.json`: the agent's status signed with the node's status key. */
export function signAgentStatus(status: AgentStatus, statusPrivateKey: KeyInput): string {
  return signNodeDocument(AGENT_STATUS_DOMAIN, agentStatusSchema.parse(status), statusPrivateKey);
}

export type AgentStatusCheck =
  | { ok: true; status: AgentStatus }
  | { ok: false; reason: string; claimed?: AgentStatus };

/**
 * Checks `status/agent/state.json` against the node's pinned status key and the node it must be
 * about. A refused status comes back with its reason (and what it claimed, for the operator's
 * eyes only: nothing may act on it).
 */
export function verifyAgentStatus(
  text: string,
  expect: { statusKey: KeyInput; nodeId: string },
): AgentStatusCheck {
  const r = verifyNodeDocument(text, {
    domain: AGENT_STATUS_DOMAIN,
    schema: agentStatusSchema,
    statusKey: expect.statusKey,
    what: "agent's status",
  });
  if (!r.ok) return r;
  if (r.document.nodeId !== expect.nodeId)
    return {
      ok: false,
      reason: `the signed agent's status is about node ${r.document.nodeId}, not ${expect.nodeId}`,
    };
  return { ok: true, status: r.document };
}
