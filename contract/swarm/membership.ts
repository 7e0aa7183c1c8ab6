// A node group's membership, signed by the program (a release key the nodes trust): who is in the
// swarm, as what, with which keys. The leader seals join tokens only to the keys it lists, and the
// members believe only join offers signed by the leader's status key it lists; both keys are the
// ones the program's state pins for each node. A channel writer can therefore neither add a
// member (and be sent a token) nor pose as the leader.
//
//   swarm/<group>/membership.json   program → every node of the group
//   { "formatVersion": 1, "keyId": "ed25519:<32 hex>", "signature": "<base64url>",
//     "membership": { "domain": "berth/swarm-membership/v1", "group", "generation", "issuedAt",
//                     "expiresAt", "leader": "<node id>", "leaderAddress": "10.0.0.2",
//                     "members": [ { "nodeId", "role", "publicKey", "statusKey", "address"? }, … ] } }
import { sign, verify } from "node:crypto";
import * as z from "zod";
import { idSchema } from "../ids";
import { canonicalBytes, canonicalJson } from "../payload/canonical";
import { fromBase64Url, toBase64Url } from "../payload/encoding";
import { type KeyInput, keyIdOf, loadSigningPrivateKey } from "../payload/keys";
import type { TrustedKeys } from "../payload/verify";

export const MEMBERSHIP_DOMAIN = "berth/swarm-membership/v1";
export const MAX_MEMBERSHIP_BYTES = 256 * 1024;

export function membershipKey(group: string): string {
  return `swarm/${idSchema().parse(group)}/membership.json`;
}

const key32 = z.string().regex(/^[A-Za-z0-9_-]{43}$/, "a raw 32-byte key, base64url");

const membershipSchema = z
  .object({
    domain: z.literal(MEMBERSHIP_DOMAIN),
    group: idSchema(),
    generation: z.number().int().positive(),
    issuedAt: z.iso.datetime(),
    expiresAt: z.iso.datetime(),
    leader: idSchema(),
    /** The leader's address on the group's private network: the others join through it. */
    leaderAddress: z.string().regex(/^[0-9a-fA-F.:]+$/, "an IP address"),
    members: z
      .array(
        z
          .object({
            nodeId: idSchema(),
            role: z.enum(["manager", "worker"]),
            /** X25519: join tokens are sealed to it. */
            publicKey: key32,
            /** Ed25519: the node's statuses, and the leader's join offers, are signed with it. */
            statusKey: key32,
            /** The address the node advertises to the swarm (absent: the agent's own choice). */
            address: z
              .string()
              .regex(/^[0-9a-fA-F.:]+$/, "an IP address")
              .optional(),
          })
          .strict(),
      )
      .min(1)
      .max(100),
  })
  .strict()
  .superRefine((m, ctx) => {
    const ids = m.members.map((x) => x.nodeId);
    if (new Set(ids).size !== ids.length)
      ctx.addIssue({ code: "custom", path: ["members"], message: "a node is listed twice" });
    const leader = m.members.find((x) => x.nodeId === m.leader);
    if (leader?.role !== "manager")
      ctx.addIssue({
        code: "custom",
        path: ["leader"],
        message: "the leader must be a manager of the group",
      });
    const managers = m.members.filter((x) => x.role === "manager").length;
    if (managers !== 1 && managers !== 3)
      ctx.addIssue({ code: "custom", path: ["members"], message: "1 or 3 managers" });
  });
export type Membership = z.infer<typeof membershipSchema>;

const signedSchema = z
  .object({
    formatVersion: z.literal(1),
    keyId: z.string().regex(/^ed25519:[0-9a-f]{32}$/),
    signature: z.string().min(1),
    membership: z.unknown(),
  })
  .strict();

/** The generation of a membership a trusted key signed (0: none, or not verifiable). */
export function membershipGeneration(text: string | undefined, trusted: TrustedKeys): number {
  if (text === undefined) return 0;
  try {
    const env = signedSchema.parse(JSON.parse(text));
    const key = trusted.get(env.keyId);
    const signature = fromBase64Url(env.signature);
    if (
      !key ||
      !signature ||
      !verify(null, canonicalBytes({ domain: MEMBERSHIP_DOMAIN, membership: env.membership }), key, signature)
    )
      return 0;
    return membershipSchema.parse(env.membership).generation;
  } catch {
    return 0;
  }
}

/** The program's side: the membership's text, signed with a release key. */
export function signMembership(m: Omit<Membership, "domain">, signingKey: KeyInput): string {
  const membership = membershipSchema.parse({ domain: MEMBERSHIP_DOMAIN, ...m });
  const key = loadSigningPrivateKey(signingKey);
  const signature = sign(null, canonicalBytes({ domain: MEMBERSHIP_DOMAIN, membership }), key);
  return `${canonicalJson({ formatVersion: 1, keyId: keyIdOf(key), signature: toBase64Url(signature), membership })}\n`;
}

export class MembershipError extends Error {
  override readonly name = "MembershipError";
}

/**
 * A node's side: the membership of `group` if a trusted key signed it, it is not expired, not
 * below the generation the node holds, and it lists the node. Throws MembershipError with why.
 */
export function verifyMembership(
  text: string,
  expect: {
    group: string;
    nodeId: string;
    trusted: TrustedKeys;
    floor?: number;
    now?: Date;
    /** Return a membership that verifies but does not list the node (a node taken out reads it). */
    allowNonMember?: boolean;
  },
): Membership {
  const where = `membership of node group ${expect.group}`;
  if (Buffer.byteLength(text, "utf8") > MAX_MEMBERSHIP_BYTES)
    throw new MembershipError(`${where}: too large, not read`);
  let env: z.infer<typeof signedSchema>;
  try {
    env = signedSchema.parse(JSON.parse(text));
  } catch {
    throw new MembershipError(`${where}: not a signed membership`);
  }
  const key = expect.trusted.get(env.keyId);
  if (!key) throw new MembershipError(`${where}: signed by ${env.keyId}, which this node does not trust`);
  const signature = fromBase64Url(env.signature);
  if (
    !signature ||
    !verify(null, canonicalBytes({ domain: MEMBERSHIP_DOMAIN, membership: env.membership }), key, signature)
  )
    throw new MembershipError(`${where}: the signature does not verify`);
  const parsed = membershipSchema.safeParse(env.membership);
  if (!parsed.success)
    throw new MembershipError(`${where}: malformed (${parsed.error.issues[0]?.message ?? "?"})`);
  const m = parsed.data;
  if (m.group !== expect.group) throw new MembershipError(`${where}: it is group ${m.group}'s`);
  if (Date.parse(m.expiresAt) < (expect.now ?? new Date()).getTime())
    throw new MembershipError(`${where}: expired at ${m.expiresAt}`);
  if (expect.floor !== undefined && m.generation < expect.floor)
    throw new MembershipError(
      `${where}: generation ${m.generation} is below ${expect.floor}, which this node holds`,
    );
  if (!expect.allowNonMember && !m.members.some((x) => x.nodeId === expect.nodeId))
    throw new MembershipError(`${where}: node ${expect.nodeId} is not a member`);
  return m;
}
