// The access protocol's versions, so a CLI and an agent of different ages still talk. The rule a
// new version keeps: it may add only optional request fields whose absence keeps the old
// behaviour (`size` of file-write: without it the node streams the file through `cat`). What an
// agent must understand to act rightly is a new action, which an older agent refuses by name.
//
// - The agent names its version: `protocol` in GET …/node and the `berth-access-protocol` header
//   of every answer. An agent that names none (every agent before version 2) is version 1.
// - The CLI writes each request for the agent's version (`requestFor`): fields the agent's
//   version does not have are left out, and `protocol` says which version wrote the request.
// - The agent reads a request written by a newer version leniently (`parseAccessRequest`): fields
//   it does not know are ignored and named in the session record. A request of its own version or
//   an older one is read strictly, so a misspelled field is still refused.
import { formatIssues } from "../payload/sign";
import { type AccessAction, requestSchemas } from "./schema";

/** This build's version of the access protocol. */
export const ACCESS_PROTOCOL = 7;
/** From this version on, file-write is also served as one HTTP PUT whose body is the file. */
export const UPLOAD_PROTOCOL = 3;
/** From this version on, file-read is also served as one HTTP GET whose answer's body is the file. */
export const DOWNLOAD_PROTOCOL = 6;
/** From this version on, file-write takes an upload in parts (offset, total, upload), each one PUT. */
export const PARTS_PROTOCOL = 7;
/**
 * The most bytes one part's body holds: Cloudflare's proxy refuses a request body over 100 MB on
 * its Free and Pro plans (Business 200 MB, Enterprise 500 MB); 90 MiB (94.4 million bytes) stays
 * under it whichever megabyte is meant, with room for the request's head.
 */
export const MAX_PART_BYTES = 90 * 1024 * 1024;
/** The version of an agent that names none. */
export const LEGACY_ACCESS_PROTOCOL = 1;
/** The response header in which the agent names its version. */
export const PROTOCOL_HEADER = "berth-access-protocol";

/** Request fields added after version 1, with the version that added them. */
export const FIELDS_SINCE: { readonly [A in AccessAction]?: Readonly<Record<string, number>> } = {
  "file-write": { size: 2, offset: 7, total: 7, upload: 7 },
};
/** Actions added after version 1, with the version that added them (an older agent lacks them). */
export const ACTIONS_SINCE: { readonly [A in AccessAction]?: number } = {
  "workspace-snapshots": 4,
  "workspace-restore": 4,
  "workspace-switch": 5,
};

/** Why an agent of version `agent` cannot serve `action`, or undefined when it can. */
export function actionUnsupported(action: AccessAction, agent: number): string | undefined {
  const since = ACTIONS_SINCE[action] ?? 1;
  return agent >= since
    ? undefined
    : `the node's agent speaks access protocol ${agent}; ${action} needs ${since}: upgrade the node's agent`;
}

/** `protocol` itself rides in every request from version 2 on. */
const PROTOCOL_FIELD_SINCE = 2;

/** The version an answer names (a header value or a JSON field), or undefined when it names none. */
export function protocolOf(value: unknown): number | undefined {
  const n = typeof value === "string" && /^\d{1,6}$/.test(value) ? Number(value) : value;
  return typeof n === "number" && Number.isInteger(n) && n >= 1 ? n : undefined;
}

/** The request as an agent of version `agent` reads it: newer fields left out, the writer's version named. */
export function requestFor(
  action: AccessAction,
  request: Record<string, unknown>,
  agent: number,
): Record<string, unknown> {
  const since = FIELDS_SINCE[action] ?? {};
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(request)) if ((since[k] ?? 1) <= agent) out[k] = v;
  if (agent >= PROTOCOL_FIELD_SINCE) out.protocol = ACCESS_PROTOCOL;
  return out;
}

export type ParsedRequest =
  | { ok: true; request: Record<string, unknown>; ignored: string[] }
  | { ok: false; reason: string };

/** The agent's reading of a request (see the rule above). */
export function parseAccessRequest(action: AccessAction, raw: Record<string, unknown>): ParsedRequest {
  const { protocol, ...fields } = raw;
  if (protocol !== undefined && (typeof protocol !== "number" || protocolOf(protocol) === undefined))
    return { ok: false, reason: `protocol: ${JSON.stringify(protocol)} is not a version (an integer ≥ 1)` };
  const schema = requestSchemas[action];
  const ignored: string[] = [];
  if ((protocol as number | undefined) !== undefined && (protocol as number) > ACCESS_PROTOCOL)
    for (const k of Object.keys(fields))
      if (!(k in schema.shape)) {
        ignored.push(k);
        delete fields[k];
      }
  const r = schema.safeParse(fields);
  return r.success
    ? { ok: true, request: r.data as Record<string, unknown>, ignored }
    : { ok: false, reason: formatIssues(r.error.issues).join("; ") };
}
