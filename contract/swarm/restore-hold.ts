// An operator's restore on a node group (issue 23): the volume's data sits on its holder, but only a
// manager can stop the service pinned to it (a worker's stopped task is restarted by Swarm at
// once). So the holder asks the leader, and the leader answers, each signing what it says:
//
//   nodes/<holder>/status/swarm-restore/<env>.json   holder → leader (the holder's status key)
//   { "formatVersion": 2, "keyId", "signature", "status": { "domain": "berth/swarm-restore-request/v1",
//     "group", "environmentId", "nodeId", "id", "state": "stop" | "done", "issuedAt", "expiresAt" } }
//
//   swarm/<group>/holds/<env>.json                   leader → holder (the leader's status key)
//   { "formatVersion": 1, "keyId", "signature", "hold": { "domain": "berth/swarm-restore-hold/v1",
//     "group", "environmentId", "sequence", "withdrawn": false, "node", "request", "services",
//     "stopped", "issuedAt" } }
//
// - A request counts only when it verifies against the holder's status key the membership pins,
//   names the holder, the group and the environment, and has not expired (15 minutes at most).
//   The leader scales the services pinned to that holder to 0 for a `stop`, and back to their
//   replicas for the `done` of the same id (or when the request expired): a channel writer's
//   request fails the signature, and a request id the leader has finished is never acted on
//   again (a replayed `stop` does not stop the service).
// - The hold is the leader's word that the services are stopped for that request id; the holder
//   swaps the data only once a hold for its own id verifies against the leader's key.
// Pure functions and schemas; the agents read and write the channel.
import * as z from "zod";
import { signNodeDocument, verifyNodeDocument } from "../channel/status-signature";
import { idSchema } from "../ids";
import { nameSchema } from "../manifest/schema";
import type { KeyInput } from "../payload/keys";
import { type LeaderDocumentKind, signLeaderDocument, verifyLeaderDocument } from "./leader-signed";

export const RESTORE_REQUEST_DOMAIN = "berth/swarm-restore-request/v1";
export const RESTORE_HOLD_DOMAIN = "berth/swarm-restore-hold/v1";
/** A request is good for this long at most. */
export const MAX_REQUEST_MS = 15 * 60 * 1000;

/** The holder's request (under its own status prefix, which only it may write). */
export function restoreRequestKey(node: string, environmentId: string): string {
  return `nodes/${idSchema().parse(node)}/status/swarm-restore/${idSchema().parse(environmentId)}.json`;
}

/** The leader's hold of an environment's pinned services. */
export function restoreHoldKey(group: string, environmentId: string): string {
  return `swarm/${idSchema().parse(group)}/holds/${idSchema().parse(environmentId)}.json`;
}

const requestSchema = z
  .object({
    domain: z.literal(RESTORE_REQUEST_DOMAIN),
    group: idSchema(),
    environmentId: idSchema(),
    nodeId: idSchema(),
    id: z.string().regex(/^[0-9a-f]{32}$/),
    state: z.enum(["stop", "done"]),
    issuedAt: z.iso.datetime(),
    expiresAt: z.iso.datetime(),
  })
  .strict();
export type RestoreRequest = z.infer<typeof requestSchema>;

/** The holder's request, signed with its status key. */
export function signRestoreRequest(
  r: Omit<RestoreRequest, "domain" | "issuedAt" | "expiresAt"> & { now?: Date },
  holderStatusKey: KeyInput,
): string {
  const { now = new Date(), ...rest } = r;
  return signNodeDocument(
    RESTORE_REQUEST_DOMAIN,
    requestSchema.parse({
      ...rest,
      domain: RESTORE_REQUEST_DOMAIN,
      issuedAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + MAX_REQUEST_MS).toISOString(),
    }),
    holderStatusKey,
  );
}

export class RestoreHoldError extends Error {
  override readonly name = "RestoreHoldError";
}

/**
 * The leader: a holder's request, verified against its pinned status key, for this group,
 * environment and holder, and in date. Throws RestoreHoldError with the reason.
 */
export function verifyRestoreRequest(
  text: string,
  expect: { group: string; environmentId: string; nodeId: string; statusKey: KeyInput; now?: Date },
): RestoreRequest {
  const where = `restore request of ${expect.environmentId} from ${expect.nodeId}`;
  const r = verifyNodeDocument(text, {
    domain: RESTORE_REQUEST_DOMAIN,
    schema: requestSchema,
    statusKey: expect.statusKey,
    what: "restore request",
  });
  if (!r.ok) throw new RestoreHoldError(`${where}: ${r.reason}`);
  const q = r.document;
  if (q.group !== expect.group || q.environmentId !== expect.environmentId || q.nodeId !== expect.nodeId)
    throw new RestoreHoldError(
      `${where}: the request is ${q.nodeId}'s of ${q.environmentId} in group ${q.group}`,
    );
  const now = (expect.now ?? new Date()).getTime();
  const issued = Date.parse(q.issuedAt);
  const expires = Date.parse(q.expiresAt);
  if (expires - issued > MAX_REQUEST_MS || issued > now + 60_000)
    throw new RestoreHoldError(`${where}: its time window is not one a holder writes`);
  if (expires <= now) throw new RestoreHoldError(`${where}: expired at ${q.expiresAt}`);
  return q;
}

const holdSchema = z
  .object({
    domain: z.literal(RESTORE_HOLD_DOMAIN),
    group: idSchema(),
    environmentId: idSchema(),
    sequence: z.number().int().positive(),
    withdrawn: z.literal(false),
    node: idSchema(),
    request: z.string().regex(/^[0-9a-f]{32}$/),
    services: z.array(nameSchema).max(100),
    stopped: z.boolean(),
    issuedAt: z.iso.datetime(),
  })
  .strict();
export type RestoreHold = z.infer<typeof holdSchema>;

const RESTORE_HOLD: LeaderDocumentKind<RestoreHold> = {
  domain: RESTORE_HOLD_DOMAIN,
  field: "hold",
  what: "restore hold",
  maxBytes: 16 * 1024,
  schema: holdSchema,
  error: RestoreHoldError,
};

/** The leader's hold, signed with its status key. */
export function signRestoreHold(
  h: Omit<RestoreHold, "domain" | "issuedAt" | "withdrawn"> & { issuedAt?: string },
  leaderStatusKey: KeyInput,
): string {
  return signLeaderDocument(
    RESTORE_HOLD,
    { ...h, domain: RESTORE_HOLD_DOMAIN, withdrawn: false, issuedAt: h.issuedAt ?? new Date().toISOString() },
    leaderStatusKey,
  );
}

/** The holder: the leader's hold, verified against its pinned key, for this holder and request. */
export function verifyRestoreHold(
  text: string,
  expect: { group: string; environmentId: string; leaderStatusKey: KeyInput; node: string; request: string },
): RestoreHold {
  const h = verifyLeaderDocument(RESTORE_HOLD, text, expect);
  if (h.node !== expect.node || h.request !== expect.request)
    throw new RestoreHoldError(
      `restore hold of ${expect.environmentId} in group ${expect.group}: it answers request ${h.request} of ${h.node}, not ${expect.request} of ${expect.node}`,
    );
  return h;
}
