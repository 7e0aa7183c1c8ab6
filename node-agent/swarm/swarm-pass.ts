// The agent's swarm pass (issue 23), run by the poll loop before it converges environments: for
// each node group whose signed membership (contract/swarm/membership.ts, `swarm/<group>/
// membership.json`) lists this node, the leader keeps the swarm (formation.ts: keepSwarm: init,
// labels, roles, join offers, lost nodes removed) and every other member joins through its sealed
// offer when its engine is in no swarm. A membership is believed only when a release key this
// node trusts signed it, it is not expired, and its generation is not below the highest this node
// has seen (kept in <stateRoot>/swarm/floors.json, so a replayed older membership is refused even
// after a restart). What is refused is logged with its reason and changes nothing.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as z from "zod";
import type { ChannelStore } from "../../contract/channel/store";
import type { KeyInput, TrustedKeys } from "../../contract/payload";
import { MembershipError, membershipKey, verifyMembership } from "../../contract/swarm/membership";
import { writeFileAtomic } from "../../lib/atomic-write";
import { describeError } from "../../lib/errors";
import type { Logger } from "../../lib/log";
import type { DockerRunner } from "../docker";
import { joinSwarm, keepSwarm, type OfferMemo } from "./formation";

const MEMBERSHIP_KEY = /^swarm\/([a-z0-9][a-z0-9-]{0,62})\/membership\.json$/;
const floorsSchema = z.record(z.string(), z.number().int().nonnegative());

export interface SwarmPassDeps {
  nodeId: string;
  channel: ChannelStore;
  docker: DockerRunner;
  /** The release keys (memberships are signed with one). */
  trusted: TrustedKeys;
  nodePrivateKey: KeyInput;
  statusPrivateKey: KeyInput;
  stateRoot: string;
  log: Logger;
}

/** What one group's step came to (logged when it changes; returned for tests). */
export interface GroupStep {
  group: string;
  /** led: the leader's plan ran; joined; waiting (why); refused (why). */
  outcome: "led" | "joined" | "in-swarm" | "waiting" | "refused";
  detail: string;
}

export class SwarmPass {
  private readonly memo: OfferMemo = new Map();
  private readonly last = new Map<string, string>();
  private readonly floorsFile: string;

  constructor(private readonly d: SwarmPassDeps) {
    this.floorsFile = join(d.stateRoot, "swarm", "floors.json");
  }

  /** The highest membership generation this node has acted on, per group. */
  floors(): Record<string, number> {
    if (!existsSync(this.floorsFile)) return {};
    try {
      return floorsSchema.parse(JSON.parse(readFileSync(this.floorsFile, "utf8")));
    } catch {
      return {};
    }
  }

  private raiseFloor(group: string, generation: number): void {
    const floors = this.floors();
    if ((floors[group] ?? 0) >= generation) return;
    mkdirSync(join(this.d.stateRoot, "swarm"), { recursive: true, mode: 0o700 });
    writeFileAtomic(this.floorsFile, `${JSON.stringify({ ...floors, [group]: generation })}\n`);
  }

  async run(): Promise<GroupStep[]> {
    const groups = (await this.d.channel.list("swarm/"))
      .map((k) => MEMBERSHIP_KEY.exec(k)?.[1])
      .filter((g): g is string => g !== undefined)
      .sort();
    const steps: GroupStep[] = [];
    for (const group of groups) {
      const step = await this.group(group);
      if (!step) continue;
      steps.push(step);
      const said = `${step.outcome}: ${step.detail}`;
      if (this.last.get(group) !== said) {
        this.last.set(group, said);
        const level = step.outcome === "refused" ? "warn" : "info";
        this.d.log[level]({ group, outcome: step.outcome, detail: step.detail }, "swarm");
      }
    }
    return steps;
  }

  private async group(group: string): Promise<GroupStep | undefined> {
    const { nodeId } = this.d;
    let text: string | undefined;
    try {
      text = await this.d.channel.get(membershipKey(group));
    } catch {
      // Another group's membership this node may not read (the bucket policy): not ours.
      return undefined;
    }
    if (text === undefined) return undefined;
    const floor = this.floors()[group];
    let m: ReturnType<typeof verifyMembership>;
    try {
      m = verifyMembership(text, {
        group,
        nodeId,
        trusted: this.d.trusted,
        ...(floor !== undefined ? { floor } : {}),
      });
    } catch (e) {
      // A membership that does not list this node is another group's (or this node left it).
      if (e instanceof MembershipError && e.message.endsWith(`node ${nodeId} is not a member`))
        return undefined;
      return { group, outcome: "refused", detail: describeError(e) };
    }
    this.raiseFloor(group, m.generation);
    const me = m.members.find((x) => x.nodeId === nodeId);
    try {
      if (nodeId === m.leader) {
        const plan = await keepSwarm(this.d.docker, this.d.channel, {
          membership: m,
          statusPrivateKey: this.d.statusPrivateKey,
          memo: this.memo,
        });
        const parts = [
          `generation ${m.generation}`,
          plan.offers.length ? `waiting for ${plan.offers.join(", ")}` : "every member in the swarm",
          ...plan.remove.map((r) => `removed ${r.swarmId}: ${r.why}`),
        ];
        return { group, outcome: "led", detail: parts.join("; ") };
      }
      const leader = m.members.find((x) => x.nodeId === m.leader);
      const address = me?.address;
      if (!leader || !address)
        return {
          group,
          outcome: "refused",
          detail: `membership generation ${m.generation} gives node ${nodeId} no address to advertise`,
        };
      const r = await joinSwarm(this.d.docker, this.d.channel, {
        group,
        nodeId,
        advertiseAddr: address,
        nodePrivateKey: this.d.nodePrivateKey,
        leaderStatusKey: leader.statusKey,
      });
      if (r.joined) return { group, outcome: "joined", detail: `as a ${r.role}, generation ${r.generation}` };
      if (r.reason === "already in a swarm") return { group, outcome: "in-swarm", detail: r.reason };
      // No offer yet is a wait; an offer that does not verify or open is refused (never joined).
      return {
        group,
        outcome: r.reason.startsWith("no join offer") ? "waiting" : "refused",
        detail: r.reason,
      };
    } catch (e) {
      return { group, outcome: "refused", detail: describeError(e) };
    }
  }
}
