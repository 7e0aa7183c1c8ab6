// The node's decision on an access token, as a pure function: signature by a declared operator,
// time window, node, target, action, grant, the node's command switch, and replay (the caller's
// nonce cache answers `seen`). The first failing check is the refusal, with its own code.
import { verify } from "node:crypto";
import { canonicalBytes } from "../payload/canonical";
import { fromBase64Url } from "../payload/encoding";
import { keyIdOf, loadSigningPublicKey } from "../payload/keys";
import { parseAccessRequest } from "./protocol";
import {
  ACTION_TARGET,
  type AccessAction,
  type AccessRefusalCode,
  type AccessRequest,
  type AccessTarget,
  type AccessToken,
  CLOCK_SKEW_SECONDS,
  COMMAND_ACTIONS,
  MAX_TOKEN_LIFETIME_SECONDS,
  type Operator,
  type TargetPolicy,
} from "./schema";

export type Decision =
  | {
      ok: true;
      operator: Operator;
      action: AccessAction;
      target: AccessTarget;
      request: AccessRequest;
      /** Fields of a newer protocol's request this node does not know, left unread (protocol.ts). */
      ignored: string[];
      expiresAt: number;
    }
  | { ok: false; code: AccessRefusalCode; reason: string; operator?: string };

export interface AuthorizeInput {
  token: AccessToken;
  /** This node's id. */
  node: string;
  /** The target and action the request's URL names (the token must name the same). */
  target: AccessTarget;
  action: AccessAction;
  /** What the program signed for the target; undefined when the node holds no such target. */
  policy: TargetPolicy | undefined;
  now: Date;
}

const refuse = (code: AccessRefusalCode, reason: string, operator?: string): Decision => ({
  ok: false,
  code,
  reason,
  ...(operator ? { operator } : {}),
});

const label = (t: AccessTarget) => `${t.kind} ${t.id}`;

function granted(op: Operator, target: AccessTarget): boolean {
  const list = target.kind === "environment" ? op.environments : op.workspaces;
  return list.includes("*") || list.includes(target.id);
}

/**
 * Checks everything but replay (the caller checks the nonce last, only for a token that passed, so
 * a forged token cannot fill the cache).
 */
export function authorize(i: AuthorizeInput): Decision {
  const p = i.token.payload;
  const who = p.operator;
  if (!i.policy) return refuse("NO_SUCH_TARGET", `this node holds no ${label(i.target)}`, who);
  const op = i.policy.operators.find((o) => o.name === p.operator);
  if (!op || keyIdOf(op.publicKey) !== p.keyId)
    return refuse(
      "UNKNOWN_OPERATOR",
      `no operator ${JSON.stringify(p.operator)} with key ${p.keyId} is declared for ${label(i.target)} (berth:operators)`,
      who,
    );
  const sig = fromBase64Url(i.token.signature);
  if (!sig || !verify(null, canonicalBytes(p), loadSigningPublicKey(op.publicKey), sig))
    return refuse(
      "BAD_SIGNATURE",
      `the token's signature does not verify with operator ${op.name}'s key`,
      who,
    );

  const now = i.now.getTime();
  const skew = CLOCK_SKEW_SECONDS * 1000;
  const issued = Date.parse(p.issuedAt);
  const expires = Date.parse(p.expiresAt);
  if (expires - issued > MAX_TOKEN_LIFETIME_SECONDS * 1000 || expires <= issued)
    return refuse(
      "TOO_LONG_LIVED",
      `the token lives from ${p.issuedAt} to ${p.expiresAt}; at most ${MAX_TOKEN_LIFETIME_SECONDS} s is accepted`,
      who,
    );
  if (issued > now + skew)
    return refuse(
      "NOT_YET_VALID",
      `the token was issued at ${p.issuedAt}, in the future: check the clocks`,
      who,
    );
  if (now > expires + skew)
    return refuse(
      "EXPIRED",
      `the token expired at ${p.expiresAt} (now ${i.now.toISOString()}): sign a new one`,
      who,
    );

  if (p.node !== i.node)
    return refuse("WRONG_NODE", `the token is for node ${p.node}, this is node ${i.node}`, who);
  if (p.target.kind !== i.target.kind || p.target.id !== i.target.id)
    return refuse(
      "WRONG_TARGET",
      `the token is for ${label(p.target)}, the request is for ${label(i.target)}`,
      who,
    );
  if (p.action !== i.action)
    return refuse("WRONG_ACTION", `the token is for ${p.action}, the request is for ${i.action}`, who);
  if (ACTION_TARGET[p.action] !== p.target.kind)
    return refuse("WRONG_ACTION", `${p.action} is not an action on a ${p.target.kind}`, who);
  if (!granted(op, p.target))
    return refuse(
      "NO_GRANT",
      `operator ${op.name} has no grant on ${label(p.target)} (berth:operators, its ${p.target.kind}s list)`,
      who,
    );
  if (p.target.kind === "environment" && COMMAND_ACTIONS.includes(p.action) && !i.policy.commands)
    return refuse(
      "COMMANDS_OFF",
      `commands (run, exec) are off on node ${i.node}; the stack turns them on per node (berth:access)`,
      who,
    );
  const r = parseAccessRequest(p.action, p.request);
  if (!r.ok) return refuse("MALFORMED", `request: ${r.reason}`, who);
  return {
    ok: true,
    operator: op,
    action: p.action,
    target: p.target,
    request: r.request as AccessRequest,
    ignored: r.ignored,
    expiresAt: expires + skew,
  };
}
