// The agent's swarm pass (issue 23), run by the poll loop before it converges environments: for
// each node group whose signed membership (contract/swarm/membership.ts, `swarm/<group>/
// membership.json`) lists this node, the leader keeps the swarm (formation.ts: keepSwarm: init,
// labels, roles, join offers, lost nodes removed) and every other member joins through its sealed
// offer when its engine is in no swarm. A membership is believed only when a release key this
// node trusts signed it, it is not expired, and its generation is not below the highest this node
// has seen (kept in <stateRoot>/swarm/floors.json, so a replayed older membership is refused even
// after a restart). What is refused is logged with its reason and changes nothing.
//
// Also, per group (docs/swarm.md):
// - the leader rotates the join tokens after it removed a node, and on a schedule
//   (`tokenRotationMs`, the last rotation kept in <stateRoot>/swarm/rotated.json);
// - a node the program took out of the group (a membership that verifies, above the generation it
//   acted on, and no longer lists it) leaves the swarm and drops the group's routes: the program's
//   signed membership is the message, never an unsigned channel object;
// - the leader publishes each swarm environment's route table, and every member routes its node's
//   HAProxy by the tables that verify against the leader's key (routes-pass.ts);
// - the leader hands each volume's holder its backup order, and every member keeps the orders that
//   verify and open for it (backup-pass.ts); a node not yet in the swarm restores the volumes it
//   holds before it joins (`beforeJoin`), and waits while an order naming its volumes does not
//   open for it yet (a replaced node, before the leader sealed the secrets to its new key).
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as z from "zod";
import type { ChannelStore } from "../../contract/channel/store";
import type { KeyInput, TrustedKeys } from "../../contract/payload";
import { membershipKey, verifyMembership } from "../../contract/swarm/membership";
import { writeFileAtomic } from "../../lib/atomic-write";
import { describeError } from "../../lib/errors";
import type { Logger } from "../../lib/log";
import type { DockerRunner } from "../docker";
import {
  type BackupOrderStep,
  type HeldBackupOrders,
  type LedBackup,
  type OrderMemo,
  publishBackupOrders,
} from "./backup-pass";
import * as cmd from "./commands";
import { joinSwarm, keepSwarm, type OfferMemo, swarmInfo } from "./formation";
import type { HeldVolumes, VolumeOrderStep } from "./held-volumes";
import type { HoldStep, LedPins, RestoreHolds } from "./restore-holds";
import {
  applyRouteTables,
  dropGroupRoutes,
  type LedEnvironment,
  publishRouteTables,
  RouteFloors,
  type RouteStep,
  type SwarmRouteProxy,
  type TableMemo,
} from "./routes-pass";
import type { LedGroup } from "./volumes-ready";

const MEMBERSHIP_KEY = /^swarm\/([a-z0-9][a-z0-9-]{0,62})\/membership\.json$/;
const floorsSchema = z.record(z.string(), z.number().int().nonnegative());
/** The leader rotates the join tokens this often (besides after every removal). */
export const DEFAULT_TOKEN_ROTATION_MS = 7 * 24 * 3600 * 1000;

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
  /** The node's own HAProxy: the group's route tables are applied to it (absent: not routed). */
  proxy?: SwarmRouteProxy;
  /** The swarm environments this node runs as the leader (their current release's proxy). */
  ledEnvironments?: () => LedEnvironment[];
  /** The node's status public key (the leader checks its own tables in the channel). */
  statusPublicKey?: KeyInput;
  tokenRotationMs?: number;
  now?: () => number;
  /** The swarm environments this node runs as the leader with backups (their settings, opened secrets). */
  ledBackups?: () => LedBackup[];
  /** The backup orders this node keeps as a member (absent: backups on a node group are off). */
  heldOrders?: HeldBackupOrders;
  /**
   * Before this node joins the group's swarm: restores the volumes it holds (backup-pass.ts:
   * restoreHeldVolumes). A reason: not joined this pass (the pinned task must not start on an
   * empty volume while its data sits in a backup).
   */
  beforeJoin?: (group: string) => Promise<string | undefined>;
  /**
   * The volume orders this node acts on as a holder (held-volumes.ts): its volumes made ready (a
   * cloud disk mounted) and its signed word in its status, before the leader deploys, and before
   * this node joins.
   */
  heldVolumes?: HeldVolumes;
  /** The leader: what its environments pin to which node (a holder's restore stops those). */
  ledPins?: () => LedPins[];
  /** The leader's holds of pinned services for holders' restores (restore-holds.ts). */
  restoreHolds?: RestoreHolds;
}

/** What one group's step came to (logged when it changes; returned for tests). */
export interface GroupStep {
  group: string;
  /** led: the leader's plan ran; joined; waiting (why); refused (why); left (taken out of the group). */
  outcome: "led" | "joined" | "in-swarm" | "waiting" | "refused" | "left";
  detail: string;
}

export class SwarmPass {
  private readonly memo: OfferMemo = new Map();
  private readonly tables: TableMemo = new Map();
  private readonly orders: OrderMemo = new Map();
  private readonly applied = new Map<string, string>();
  private readonly last = new Map<string, string>();
  private readonly floorsFile: string;
  private readonly rotatedFile: string;
  readonly routeFloors: RouteFloors;
  private routeLog: RouteStep[] = [];
  private backupLog: BackupOrderStep[] = [];
  private volumeLog: VolumeOrderStep[] = [];
  private holdLog: HoldStep[] = [];
  /** The group this node leads, from the last membership that verified and names it the leader. */
  private led: LedGroup | undefined;

  constructor(private readonly d: SwarmPassDeps) {
    this.floorsFile = join(d.stateRoot, "swarm", "floors.json");
    this.rotatedFile = join(d.stateRoot, "swarm", "rotated.json");
    this.routeFloors = new RouteFloors(d.stateRoot);
  }

  /** The route tables acted on (or refused) in the last pass. */
  routeSteps(): RouteStep[] {
    return this.routeLog;
  }

  /** The group this node leads (volumes-ready.ts asks it before a deploy). */
  ledGroup(): LedGroup | undefined {
    return this.led;
  }

  /** The volume orders acted on (or refused) in the last pass. */
  volumeSteps(): VolumeOrderStep[] {
    return this.volumeLog;
  }

  /** The backup orders written, kept (or refused) in the last pass. */
  backupSteps(): BackupOrderStep[] {
    return this.backupLog;
  }

  private rotatedAt(group: string): number | undefined {
    if (!existsSync(this.rotatedFile)) return undefined;
    try {
      return floorsSchema.parse(JSON.parse(readFileSync(this.rotatedFile, "utf8")))[group];
    } catch {
      return undefined;
    }
  }

  private noteRotation(group: string, at: number): void {
    let all: Record<string, number> = {};
    try {
      if (existsSync(this.rotatedFile))
        all = floorsSchema.parse(JSON.parse(readFileSync(this.rotatedFile, "utf8")));
    } catch {
      all = {};
    }
    mkdirSync(join(this.d.stateRoot, "swarm"), { recursive: true, mode: 0o700 });
    writeFileAtomic(this.rotatedFile, `${JSON.stringify({ ...all, [group]: at })}\n`);
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
    this.routeLog = [];
    this.backupLog = [];
    this.volumeLog = [];
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
    for (const r of this.routeLog) {
      const level = r.outcome === "refused" ? "warn" : "info";
      const said = `${r.outcome}: ${r.detail}`;
      const k = `${r.group}/${r.environmentId}`;
      if (this.last.get(k) !== said) {
        this.last.set(k, said);
        this.d.log[level](
          { group: r.group, environment: r.environmentId, outcome: r.outcome, detail: r.detail },
          "swarm routes",
        );
      }
    }
    for (const b of [...this.backupLog, ...this.volumeLog]) {
      const level = b.outcome === "refused" || b.outcome === "not-ready" ? "warn" : "info";
      const said = `${b.outcome}: ${b.detail}`;
      const what = this.volumeLog.includes(b as VolumeOrderStep) ? "volumes" : "backups";
      const k = `${what}/${b.group}/${b.environmentId}`;
      if (this.last.get(k) !== said) {
        this.last.set(k, said);
        this.d.log[level](
          { group: b.group, environment: b.environmentId, outcome: b.outcome, detail: b.detail },
          `swarm ${what}`,
        );
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
        allowNonMember: true,
      });
    } catch (e) {
      return { group, outcome: "refused", detail: describeError(e) };
    }
    const me = m.members.find((x) => x.nodeId === nodeId);
    if (!me) {
      // Never a member: another group's. A member before, and the program's newer membership no
      // longer lists it: taken out of the group, so its engine leaves the swarm.
      if (floor === undefined || m.generation <= floor) return undefined;
      return this.leave(group, m.generation);
    }
    this.raiseFloor(group, m.generation);
    if (nodeId === m.leader)
      this.led = { group, members: m.members.map((x) => ({ nodeId: x.nodeId, statusKey: x.statusKey })) };
    else if (this.led?.group === group) this.led = undefined;
    try {
      if (nodeId === m.leader) {
        const now = this.d.now?.() ?? Date.now();
        const last = this.rotatedAt(group);
        const due = last !== undefined && now - last >= (this.d.tokenRotationMs ?? DEFAULT_TOKEN_ROTATION_MS);
        let plan: Awaited<ReturnType<typeof keepSwarm>>;
        try {
          plan = await keepSwarm(this.d.docker, this.d.channel, {
            membership: m,
            statusPrivateKey: this.d.statusPrivateKey,
            memo: this.memo,
            rotate: due,
            now,
          });
        } finally {
          // The route tables do not wait on the swarm's upkeep: a Docker call that failed this
          // pass (it is tried again next pass) keeps no host unrouted.
          await this.routes(m);
          await this.backups(m);
          await this.holds(m);
        }
        // The schedule counts from the swarm's first pass, then from each rotation.
        if (plan.rotated || last === undefined) this.noteRotation(group, now);
        const parts = [
          `generation ${m.generation}`,
          plan.offers.length ? `waiting for ${plan.offers.join(", ")}` : "every member in the swarm",
          ...plan.remove.map((r) => `removed ${r.swarmId}: ${r.why}`),
          ...(plan.rotated ? ["join tokens rotated"] : []),
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
      if ((await swarmInfo(this.d.docker)).state === "active") {
        await this.routes(m);
        await this.backups(m);
        await this.volumes(m);
        return { group, outcome: "in-swarm", detail: "already in a swarm" };
      }
      const wait = await this.beforeJoin(m);
      if (wait) return { group, outcome: "waiting", detail: wait };
      const r = await joinSwarm(this.d.docker, this.d.channel, {
        group,
        nodeId,
        advertiseAddr: address,
        nodePrivateKey: this.d.nodePrivateKey,
        leaderStatusKey: leader.statusKey,
      });
      if (r.joined) return { group, outcome: "joined", detail: `as a ${r.role}, generation ${r.generation}` };
      if (r.reason === "already in a swarm") {
        await this.routes(m);
        await this.backups(m);
        await this.volumes(m);
        return { group, outcome: "in-swarm", detail: r.reason };
      }
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

  /** The group's route tables: the leader publishes them; every member routes its proxy by them. */
  private async routes(m: ReturnType<typeof verifyMembership>): Promise<void> {
    const { proxy } = this.d;
    if (!proxy) return;
    const leader = m.members.find((x) => x.nodeId === m.leader);
    const me = m.members.find((x) => x.nodeId === this.d.nodeId);
    if (!leader || !me) return;
    try {
      if (this.d.nodeId === m.leader && this.d.statusPublicKey)
        await publishRouteTables(this.d.channel, {
          group: m.group,
          statusPrivateKey: this.d.statusPrivateKey,
          statusPublicKey: this.d.statusPublicKey,
          environments: this.d.ledEnvironments?.() ?? [],
          memo: this.tables,
          members: m.members.map((x) => ({ nodeId: x.nodeId, publicKey: x.publicKey })),
        });
      this.routeLog.push(
        ...(await applyRouteTables(this.d.channel, proxy, {
          group: m.group,
          leaderStatusKey: leader.statusKey,
          address: me.address ?? "127.0.0.1",
          nodeId: this.d.nodeId,
          nodePrivateKey: this.d.nodePrivateKey,
          floors: this.routeFloors,
          applied: this.applied,
        })),
      );
    } catch (e) {
      this.routeLog.push({
        group: m.group,
        environmentId: "*",
        outcome: "refused",
        detail: describeError(e),
      });
    }
  }

  /** The group's backup orders: the leader publishes them; every member keeps what it holds. */
  private async backups(m: ReturnType<typeof verifyMembership>): Promise<void> {
    const held = this.d.heldOrders;
    if (!held) return;
    const leader = m.members.find((x) => x.nodeId === m.leader);
    if (!leader) return;
    try {
      if (this.d.nodeId === m.leader && this.d.statusPublicKey)
        this.backupLog.push(
          ...(await publishBackupOrders(this.d.channel, {
            group: m.group,
            statusPrivateKey: this.d.statusPrivateKey,
            statusPublicKey: this.d.statusPublicKey,
            environments: this.d.ledBackups?.() ?? [],
            memo: this.orders,
            members: m.members.map((x) => ({ nodeId: x.nodeId, publicKey: x.publicKey })),
          })),
        );
      this.backupLog.push(
        ...(await held.refresh(this.d.channel, { group: m.group, leaderStatusKey: leader.statusKey })),
      );
    } catch (e) {
      this.backupLog.push({
        group: m.group,
        environmentId: "*",
        outcome: "refused",
        detail: describeError(e),
      });
    }
  }

  /** The leader: the holders' restore requests; the services pinned to them stopped and started. */
  private async holds(m: ReturnType<typeof verifyMembership>): Promise<void> {
    if (!this.d.restoreHolds) return;
    let steps: HoldStep[];
    try {
      steps = await this.d.restoreHolds.keep(this.d.channel, this.d.docker, {
        group: m.group,
        statusPrivateKey: this.d.statusPrivateKey,
        members: m.members.map((x) => ({ nodeId: x.nodeId, statusKey: x.statusKey })),
        led: this.d.ledPins?.() ?? [],
      });
    } catch (e) {
      steps = [
        { group: m.group, environmentId: "*", node: "*", outcome: "refused", detail: describeError(e) },
      ];
    }
    this.holdLog = steps;
    for (const s of steps) {
      const k = `holds/${s.group}/${s.environmentId}/${s.node}`;
      const said = `${s.outcome}: ${s.detail}`;
      if (this.last.get(k) === said) continue;
      this.last.set(k, said);
      this.d.log[s.outcome === "refused" ? "warn" : "info"](
        { group: s.group, environment: s.environmentId, node: s.node, outcome: s.outcome, detail: s.detail },
        "swarm restore hold",
      );
    }
  }

  /** The holders' restore requests acted on (or refused) in the last pass. */
  holdSteps(): HoldStep[] {
    return this.holdLog;
  }

  /** A member: the group's volume orders; the volumes this node holds made ready and reported. */
  private async volumes(m: ReturnType<typeof verifyMembership>): Promise<VolumeOrderStep[]> {
    const held = this.d.heldVolumes;
    const leader = m.members.find((x) => x.nodeId === m.leader);
    if (!held || !leader) return [];
    let steps: VolumeOrderStep[];
    try {
      steps = await held.refresh(this.d.channel, { group: m.group, leaderStatusKey: leader.statusKey });
    } catch (e) {
      steps = [{ group: m.group, environmentId: "*", outcome: "refused", detail: describeError(e) }];
    }
    this.volumeLog.push(...steps);
    return steps;
  }

  /**
   * A member not in the swarm yet: its volumes made ready (a disk mounted), the orders naming its
   * volumes must open for it, and its volumes are restored, before it joins. The reason it waits,
   * or undefined.
   */
  private async beforeJoin(m: ReturnType<typeof verifyMembership>): Promise<string | undefined> {
    const unready = (await this.volumes(m)).filter(
      (s) => s.outcome === "refused" || s.outcome === "not-ready",
    );
    if (unready.length > 0)
      return `not joining before the volumes it holds are ready: ${unready.map((s) => `${s.environmentId}: ${s.detail}`).join("; ")}`;
    if (!this.d.heldOrders) return undefined;
    const before = this.backupLog.length;
    await this.backups(m);
    const refused = this.backupLog.slice(before).filter((s) => s.outcome === "refused");
    if (refused.length > 0)
      return `not joining before the backup orders open for this node (the volumes it holds are restored first): ${refused.map((s) => `${s.environmentId}: ${s.detail}`).join("; ")}`;
    return this.d.beforeJoin?.(m.group);
  }

  /** Taken out of the group by the program's signed membership: leave the swarm, drop its routes. */
  private async leave(group: string, generation: number): Promise<GroupStep> {
    try {
      const info = await swarmInfo(this.d.docker);
      if (info.state !== "inactive") await this.d.docker(cmd.swarmLeave());
      if (this.d.proxy) await dropGroupRoutes(this.d.proxy, this.routeFloors, group);
      this.d.heldOrders?.drop(group);
      this.d.heldVolumes?.drop(group);
      for (const k of [...this.applied.keys()]) if (k.startsWith(`${group}/`)) this.applied.delete(k);
      this.raiseFloor(group, generation);
      return {
        group,
        outcome: "left",
        detail: `taken out of node group ${group} at generation ${generation}: ${info.state !== "inactive" ? "left the swarm" : "in no swarm"}`,
      };
    } catch (e) {
      return { group, outcome: "refused", detail: `leaving node group ${group}: ${describeError(e)}` };
    }
  }
}
