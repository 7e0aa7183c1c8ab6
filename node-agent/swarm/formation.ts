// The agents form the swarm: the group's leader initialises it and writes each other node a
// join offer (contract/swarm/join.ts: the token sealed to that node's pinned key, signed by the
// leader's status key) to the channel; each node reads its own offer, verifies and opens it, and
// joins. The token never reaches user data, the state, a log or the channel in plain text: it
// travels sealed, and `docker swarm join` gets it as an argument the runner redacts.
// The agent's poll loop runs them through swarm-pass.ts: the leader `keepSwarm`, the others
// `joinSwarm` (docs/swarm.md).
import type { ChannelStore } from "../../contract/channel/store";
import type { KeyInput } from "../../contract/payload/keys";
import { joinOfferKey, makeJoinOffer, openJoinOffer } from "../../contract/swarm/join";
import type { Membership } from "../../contract/swarm/membership";
import { NODE_LABEL } from "../../contract/swarm/names";
import type { DockerRunner } from "../docker";
import * as cmd from "./commands";
import { type MemberPlan, NODE_ROW_FORMAT, parseNodeRows, planMembers } from "./members";

export interface SwarmInfo {
  state: string;
  isManager: boolean;
  nodeId: string;
}

/** The engine's swarm state (`docker info`'s `.Swarm`). */
export async function swarmInfo(docker: DockerRunner): Promise<SwarmInfo> {
  const r = await docker({ file: "docker", args: ["info", "--format", "{{json .Swarm}}"] });
  const s = JSON.parse(r.stdout) as { LocalNodeState?: string; ControlAvailable?: boolean; NodeID?: string };
  return {
    state: s.LocalNodeState ?? "inactive",
    isManager: s.ControlAvailable === true,
    nodeId: s.NodeID ?? "",
  };
}

export interface Member {
  nodeId: string;
  role: "manager" | "worker";
  /** The node's X25519 public key, as the program's state pins it. */
  publicKey: KeyInput;
}

/**
 * On the leader: initialise the swarm when the engine is in none, label itself, and write a join
 * offer for every other member (or those in `offersFor`). Returns the offers written, by member.
 */
export async function leadSwarm(
  docker: DockerRunner,
  store: ChannelStore,
  o: {
    group: string;
    leaderId: string;
    advertiseAddr: string;
    generation: number;
    members: readonly Member[];
    leaderStatusKey: KeyInput;
    /** Write offers only for these members (default: every member but the leader). */
    offersFor?: readonly string[];
  },
): Promise<Record<string, string>> {
  const info = await swarmInfo(docker);
  if (info.state === "inactive") await docker(cmd.swarmInit(o.advertiseAddr));
  await docker(cmd.labelNode(info.nodeId || (await swarmInfo(docker)).nodeId, NODE_LABEL, o.leaderId));
  const written: Record<string, string> = {};
  if (o.offersFor?.length === 0) return written;
  const tokens = {
    manager: (await docker(cmd.joinToken("manager"))).stdout.trim(),
    worker: (await docker(cmd.joinToken("worker"))).stdout.trim(),
  };
  for (const m of o.members) {
    if (m.nodeId === o.leaderId || (o.offersFor && !o.offersFor.includes(m.nodeId))) continue;
    const text = makeJoinOffer({
      group: o.group,
      nodeId: m.nodeId,
      role: m.role,
      generation: o.generation,
      managers: [`${o.advertiseAddr}:2377`],
      token: tokens[m.role],
      nodePublicKey: m.publicKey,
      leaderStatusKey: o.leaderStatusKey,
    });
    await store.put(joinOfferKey(o.group, m.nodeId), text);
    written[m.nodeId] = text;
  }
  return written;
}

/**
 * On a manager: label each swarm node whose hostname is a member's berth id with
 * `berth.node=<id>` (placement constraints select on it). Returns the members not in the swarm.
 */
export async function labelMembers(docker: DockerRunner, memberIds: readonly string[]): Promise<string[]> {
  const ls = await docker({
    file: "docker",
    args: ["node", "ls", "--format", "{{.ID}} {{.Hostname}} {{.Status}}"],
  });
  const ready = new Map<string, string>();
  for (const line of ls.stdout.split("\n")) {
    const [id, host, status] = line.trim().split(/\s+/);
    if (id && host && status === "Ready") ready.set(host, id);
  }
  const missing: string[] = [];
  for (const m of memberIds) {
    const id = ready.get(m);
    if (id === undefined) missing.push(m);
    else await docker(cmd.labelNode(id, NODE_LABEL, m));
  }
  return missing;
}

export type JoinOutcome =
  | { joined: true; role: "manager" | "worker"; generation: number }
  | { joined: false; reason: string };

/** On a member: join through its offer when its engine is in no swarm. Never throws on a bad offer. */
export async function joinSwarm(
  docker: DockerRunner,
  store: ChannelStore,
  o: {
    group: string;
    nodeId: string;
    advertiseAddr: string;
    nodePrivateKey: KeyInput;
    leaderStatusKey: KeyInput;
    floor?: number;
  },
): Promise<JoinOutcome> {
  const info = await swarmInfo(docker);
  if (info.state === "active") return { joined: false, reason: "already in a swarm" };
  const text = await store.get(joinOfferKey(o.group, o.nodeId));
  if (text === undefined)
    return { joined: false, reason: `no join offer at ${joinOfferKey(o.group, o.nodeId)} yet` };
  let offer: ReturnType<typeof openJoinOffer>;
  try {
    offer = openJoinOffer(text, {
      group: o.group,
      nodeId: o.nodeId,
      leaderStatusKey: o.leaderStatusKey,
      nodePrivateKey: o.nodePrivateKey,
      ...(o.floor !== undefined ? { floor: o.floor } : {}),
    });
  } catch (e) {
    return { joined: false, reason: (e as Error).message };
  }
  const [manager] = offer.managers;
  const host = manager?.replace(/:\d+$/, "") ?? "";
  await docker(cmd.swarmJoin(offer.token, host, o.advertiseAddr), { redact: [offer.token] });
  return { joined: true, role: offer.role, generation: offer.generation };
}

/**
 * One node's step, from the program's verified membership (contract/swarm/membership.ts): the
 * leader initialises the swarm, writes the offers and labels the members that joined; any other
 * member joins through its offer, believing only the leader's status key the membership lists.
 */
export async function formFromMembership(
  docker: DockerRunner,
  store: ChannelStore,
  o: {
    nodeId: string;
    /** This node's address on the group's private network. */
    advertiseAddr: string;
    membership: Membership;
    nodePrivateKey: KeyInput;
    statusPrivateKey: KeyInput;
  },
): Promise<JoinOutcome | { led: true; unlabelled: string[] }> {
  const m = o.membership;
  if (o.nodeId === m.leader) {
    await leadSwarm(docker, store, {
      group: m.group,
      leaderId: m.leader,
      advertiseAddr: m.leaderAddress,
      generation: m.generation,
      members: m.members,
      leaderStatusKey: o.statusPrivateKey,
    });
    return {
      led: true,
      unlabelled: await labelMembers(
        docker,
        m.members.map((x) => x.nodeId),
      ),
    };
  }
  const leader = m.members.find((x) => x.nodeId === m.leader);
  if (!leader) return { joined: false, reason: `the membership names no leader ${m.leader}` };
  return joinSwarm(docker, store, {
    group: m.group,
    nodeId: o.nodeId,
    advertiseAddr: o.advertiseAddr,
    nodePrivateKey: o.nodePrivateKey,
    leaderStatusKey: leader.statusKey,
  });
}

/**
 * Offers this leader wrote (member → what, when, the text): one is written again when the member's
 * key, role or generation changed, when it ages, or when the channel no longer holds it as
 * written (deleted, or swapped by a channel writer).
 */
export type OfferMemo = Map<string, { what: string; at: number; text: string }>;

/** An offer is valid 7 days; the leader writes a member's offer again after a day. */
const OFFER_REWRITE_MS = 24 * 3600 * 1000;

/**
 * The leader's pass (node-agent/swarm/members.ts: planMembers): initialise the swarm when the
 * engine is in none, label the members, promote or demote those whose role changed, remove the
 * nodes the membership no longer holds (a manager demoted first), and write a join offer for
 * each member not in the swarm, sealed to the key the membership lists for it.
 */
export async function keepSwarm(
  docker: DockerRunner,
  store: ChannelStore,
  o: {
    membership: Membership;
    statusPrivateKey: KeyInput;
    memo?: OfferMemo;
    now?: number;
    /** Rotate the join tokens this pass (the schedule says so); a removal rotates them anyway. */
    rotate?: boolean;
  },
): Promise<MemberPlan & { rotated: boolean }> {
  const m = o.membership;
  const info = await swarmInfo(docker);
  if (info.state === "inactive") await docker(cmd.swarmInit(m.leaderAddress));
  const self = info.nodeId || (await swarmInfo(docker)).nodeId;
  const rows = parseNodeRows((await docker(cmd.nodeList(NODE_ROW_FORMAT))).stdout);
  const plan = planMembers(rows, m, self);
  for (const l of plan.label) await docker(cmd.labelNode(l.swarmId, NODE_LABEL, l.nodeId));
  for (const id of plan.promote) await docker(cmd.nodePromote(id));
  for (const id of plan.demote) await docker(cmd.nodeDemote(id));
  for (const r of plan.remove) {
    if (r.manager) await docker(cmd.nodeDemote(r.swarmId), { allowFailure: true });
    await docker(cmd.nodeRemove(r.swarmId));
  }
  // A removed node's engine may still hold the tokens (it joined with one): new ones, so it cannot
  // come back on its own; every offer not yet used is written again with them.
  const rotated = plan.remove.length > 0 || o.rotate === true;
  if (rotated) {
    for (const role of ["worker", "manager"] as const) await docker(cmd.rotateJoinToken(role));
    o.memo?.clear();
  }
  const now = o.now ?? Date.now();
  const due: string[] = [];
  for (const x of m.members) {
    if (!plan.offers.includes(x.nodeId)) continue;
    const last = o.memo?.get(x.nodeId);
    if (
      !last ||
      last.what !== offerWhat(m, x) ||
      now - last.at > OFFER_REWRITE_MS ||
      (await store.get(joinOfferKey(m.group, x.nodeId))) !== last.text
    )
      due.push(x.nodeId);
  }
  if (due.length > 0) {
    const written = await leadSwarm(docker, store, {
      group: m.group,
      leaderId: m.leader,
      advertiseAddr: m.leaderAddress,
      generation: m.generation,
      members: m.members,
      leaderStatusKey: o.statusPrivateKey,
      offersFor: due,
    });
    for (const x of m.members)
      if (written[x.nodeId] !== undefined)
        o.memo?.set(x.nodeId, { what: offerWhat(m, x), at: now, text: written[x.nodeId] as string });
  }
  return { ...plan, rotated };
}

function offerWhat(m: Membership, x: Membership["members"][number]): string {
  return `${m.generation} ${m.leaderAddress} ${x.role} ${x.publicKey}`;
}
