// The leader's side of the volume orders (contract/swarm/volumes.ts): before `docker stack deploy`
// of a release whose stack places volumes on the group's nodes, the leader writes the release's
// volume order (signed with its status key) and waits until every holder's own signed status
// says those volumes are ready for this release. The leader's own volumes it makes ready itself.
// Until then its status says which holder it waits for and why; at the bound the release fails
// with it, nothing deployed, and `pulumi up` reports the node's words.
//
// A holder's word counts only when its status verifies against the status key the group's signed
// membership pins for that holder (a channel writer's status does not) and names this release's
// sequence (a holder's word on an older release, replayed, does not). A placement the leader has
// seen ready (the same volumes on the same nodes and disks) is not waited on again.
import { channelKeys } from "../../contract/channel/layout";
import { verifyStatus } from "../../contract/channel/status-signature";
import type { ChannelStore } from "../../contract/channel/store";
import type { KeyInput } from "../../contract/payload";
import {
  type HeldVolume,
  holderReadiness,
  placementOf,
  signVolumeOrder,
  volumeHolders,
  volumeOrderKey,
} from "../../contract/swarm/volumes";
import type { HeldVolumesWord } from "./held-volumes";

/** The group this node leads, as its last verified membership says. */
export interface LedGroup {
  group: string;
  members: readonly { nodeId: string; statusKey: KeyInput }[];
}

export interface VolumesReadyDeps {
  nodeId: string;
  channel: ChannelStore;
  statusPrivateKey: KeyInput;
  ledGroup: () => LedGroup | undefined;
  /** The volumes placed on this node itself, made ready (held-volumes.ts). */
  prepareOwn: (env: string, sequence: number, volumes: readonly HeldVolume[]) => Promise<HeldVolumesWord>;
  timeoutMs: number;
  pollMs?: number;
  /** Told what the release waits for, each time that changes (the status's `waiting`). */
  waiting: (detail: string) => Promise<void>;
  /** Placements seen ready, per environment (kept by the caller across releases). */
  readyPlacements: Map<string, string>;
  /**
   * Whether a holder is a ready node of the swarm, labelled as the member it is (the pinned task
   * can run nowhere else). On a first deploy a holder makes its volumes ready before it joins.
   */
  inSwarm?: (holder: string) => Promise<boolean>;
  /** Run while it waits: the leader's swarm pass (it labels the members that joined). */
  upkeep?: () => Promise<unknown>;
  now?: () => number;
}

/**
 * Waits until every holder of `volumes` said they are ready for release `sequence`. Undefined
 * when they are (deploy); otherwise why the release must fail, nothing deployed.
 */
export async function awaitHeldVolumes(
  d: VolumesReadyDeps,
  p: { environmentId: string; sequence: number; volumes: readonly HeldVolume[] },
): Promise<string | undefined> {
  const env = p.environmentId;
  if (p.volumes.length === 0) return undefined;
  const placement = placementOf(p.volumes);
  if (d.readyPlacements.get(env) === placement) return undefined;
  const now = d.now ?? Date.now;
  const deadline = now() + d.timeoutMs;
  let written: { group: string; text: string } | undefined;
  let ownReady = false;
  let said = "";
  for (;;) {
    const waits: string[] = [];
    const g = d.ledGroup();
    if (!g) waits.push("this node leads no node group (no membership that verifies names it the leader)");
    else {
      const key = volumeOrderKey(g.group, env);
      // Signed once per release (a new text would make every holder act again).
      if (written?.group !== g.group)
        written = {
          group: g.group,
          text: signVolumeOrder(
            { group: g.group, environmentId: env, sequence: p.sequence, volumes: [...p.volumes] },
            d.statusPrivateKey,
          ),
        };
      if ((await d.channel.get(key)) !== written.text) await d.channel.put(key, written.text);
      for (const holder of volumeHolders(p.volumes)) {
        const names = p.volumes.filter((v) => v.node === holder).map((v) => v.name);
        if (holder === d.nodeId) {
          if (ownReady) continue;
          const word = await d.prepareOwn(env, p.sequence, p.volumes);
          if (word.problem) waits.push(`${holder} (this node): ${word.problem}`);
          else ownReady = true;
          continue;
        }
        const member = g.members.find((m) => m.nodeId === holder);
        if (!member) {
          waits.push(`${holder} holds ${names.join(", ")} but is no member of node group ${g.group}`);
          continue;
        }
        const text = await d.channel.get(channelKeys.status(holder, env));
        const check =
          text === undefined
            ? undefined
            : verifyStatus(text, { statusKey: member.statusKey, nodeId: holder, environmentId: env });
        const r = holderReadiness(check?.ok ? check.status : undefined, {
          holder,
          sequence: p.sequence,
          volumes: names,
        });
        if (!r.ready)
          waits.push(
            check && !check.ok
              ? `${r.why} (a status that does not verify was ignored: ${check.reason})`
              : r.why,
          );
        else if (d.inSwarm && !(await d.inSwarm(holder)))
          waits.push(
            `${holder} made its volumes ready but is not in the swarm yet (no ready node labelled as it)`,
          );
      }
    }
    if (waits.length === 0) {
      d.readyPlacements.set(env, placement);
      return undefined;
    }
    const detail = `release ${p.sequence} waits for the holders of its volumes before it deploys: ${waits.join("; ")}`;
    if (detail !== said) {
      said = detail;
      await d.waiting(detail);
    }
    if (now() >= deadline)
      return `the holders of its volumes were not ready within ${Math.round(d.timeoutMs / 1000)} s, so nothing was deployed: ${waits.join("; ")}`;
    await new Promise((r) => setTimeout(r, d.pollMs ?? 1000));
    await d.upkeep?.();
  }
}
