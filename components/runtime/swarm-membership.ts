// The SwarmMembership dynamic provider's logic: signs a node group's membership
// (contract/swarm/membership.ts: who is in the swarm, as what, with the keys the program's state
// pins for each node) with the release key and puts it at `swarm/<group>/membership.json`, where
// the group's agents read it each poll and form the swarm from it. Each change takes the next
// generation (above the state's and above one this key signed in the channel); a membership close
// to its expiry is renewed by the next `pulumi up` (diff reports it).
import { createPublicKey } from "node:crypto";
import type * as pulumi from "@pulumi/pulumi";
import type { ChannelSpec } from "../../contract/channel/access";
import { loadSigningPrivateKey, TrustedKeys } from "../../contract/payload";
import {
  type Membership,
  membershipGeneration,
  membershipKey,
  signMembership,
} from "../../contract/swarm/membership";
import { channelLocation, openChannel } from "./channel";
import { isUnknown } from "./unknown";

export interface SwarmMembershipInputs {
  berthKind: "swarm-membership";
  berthProviderVersion: string;
  channel: ChannelSpec;
  /** The release signing key (secret). */
  signingKey: string;
  group: string;
  leader: string;
  leaderAddress: string;
  members: Membership["members"];
  validityDays: number;
  renewBeforeDays: number;
}

export interface SwarmMembershipOutputs extends SwarmMembershipInputs {
  key: string;
  generation: number;
  expiresAt: string;
}

export async function check(
  _olds: Partial<SwarmMembershipInputs>,
  news: SwarmMembershipInputs,
): Promise<pulumi.dynamic.CheckResult> {
  const failures: pulumi.dynamic.CheckFailure[] = [];
  if (
    isUnknown(news) ||
    isUnknown(news.members) ||
    isUnknown(news.leaderAddress) ||
    isUnknown(news.signingKey)
  )
    return { inputs: news, failures };
  if (news.members.some((m) => isUnknown(m) || isUnknown(m.publicKey) || isUnknown(m.statusKey)))
    return { inputs: news, failures };
  try {
    signMembership(
      {
        group: news.group,
        generation: 1,
        issuedAt: new Date().toISOString(),
        expiresAt: new Date().toISOString(),
        leader: news.leader,
        leaderAddress: news.leaderAddress,
        members: news.members,
      },
      news.signingKey,
    );
  } catch (e) {
    const issues = (e as { issues?: { path: PropertyKey[]; message: string }[] }).issues;
    const why = issues
      ? issues.map((i) => `${i.path.map(String).join(".") || "membership"}: ${i.message}`).join("; ")
      : (e as Error).message;
    failures.push({ property: "members", reason: `berth:nodeGroups: ${news.group}: ${why}` });
  }
  return { inputs: news, failures };
}

/** What the nodes see; credentials alone change nothing. */
function content(i: SwarmMembershipInputs): string {
  const where = channelLocation(i.channel);
  let signer = "";
  try {
    signer = createPublicKey(loadSigningPrivateKey(i.signingKey))
      .export({ format: "der", type: "spki" })
      .toString("hex");
  } catch {}
  return JSON.stringify([...where, signer, i.group, i.leader, i.leaderAddress, i.members, i.validityDays]);
}

export function renewalDue(
  o: Pick<SwarmMembershipOutputs, "expiresAt">,
  renewBeforeDays: number,
  now = new Date(),
) {
  return !(now.getTime() < Date.parse(o.expiresAt) - renewBeforeDays * 86_400_000);
}

export async function diff(
  _id: string,
  olds: SwarmMembershipOutputs,
  news: SwarmMembershipInputs,
): Promise<pulumi.dynamic.DiffResult> {
  if (isUnknown(news)) return { changes: true, replaces: [], deleteBeforeReplace: false };
  const replaces = olds.group !== news.group ? ["group"] : [];
  const changes =
    replaces.length > 0 || content(olds) !== content(news) || renewalDue(olds, news.renewBeforeDays);
  return { changes, replaces, deleteBeforeReplace: true };
}

async function publish(i: SwarmMembershipInputs, previous: number): Promise<SwarmMembershipOutputs> {
  const store = openChannel(i.channel);
  try {
    const key = membershipKey(i.group);
    const own = new TrustedKeys([createPublicKey(loadSigningPrivateKey(i.signingKey))]);
    const generation = Math.max(previous, membershipGeneration(await store.get(key), own)) + 1;
    const issuedAt = new Date();
    const expiresAt = new Date(issuedAt.getTime() + i.validityDays * 86_400_000).toISOString();
    const text = signMembership(
      {
        group: i.group,
        generation,
        issuedAt: issuedAt.toISOString(),
        expiresAt,
        leader: i.leader,
        leaderAddress: i.leaderAddress,
        members: i.members,
      },
      i.signingKey,
    );
    await store.put(key, text);
    return { ...i, key, generation, expiresAt };
  } finally {
    (store as { destroy?: () => void }).destroy?.();
  }
}

export async function create(news: SwarmMembershipInputs): Promise<pulumi.dynamic.CreateResult> {
  const outs = await publish(news, 0);
  return { id: `swarm/${news.group}`, outs };
}

export async function update(
  _id: string,
  olds: SwarmMembershipOutputs,
  news: SwarmMembershipInputs,
): Promise<pulumi.dynamic.UpdateResult> {
  return { outs: await publish(news, olds.generation) };
}

/** The group is gone from the stack: its membership leaves the channel (the agents stop forming). */
export async function remove(_id: string, olds: SwarmMembershipOutputs): Promise<void> {
  const store = openChannel(olds.channel);
  try {
    await store.delete(membershipKey(olds.group));
  } finally {
    (store as { destroy?: () => void }).destroy?.();
  }
}
