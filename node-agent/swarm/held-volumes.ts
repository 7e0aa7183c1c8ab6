// A volume holder's side of the volume orders (contract/swarm/volumes.ts): before the leader
// deploys a release whose pinned services mount volumes, each holder makes them ready on its own
// engine and says so in its signed status.
//
// - HeldVolumes.refresh (every member's swarm pass): each order of the group verified against the
//   leader's key the membership pins, not below the release acted on (<stateRoot>/swarm/
//   volume-floors.json); the volumes it places on this node made ready (prepareHeldVolume); the
//   node's word `{ sequence, ready, problem? }` written in its own status of the environment.
//   An order whose volumes all became ready is not read again; one with a problem is tried again
//   each pass (a disk not attached yet).
// - prepareHeldVolume: a volume on a cloud disk is mounted at its folder, as on a single node
//   (disks/mount.ts: formatted once when blank, fstab by UUID with nofail), and the Docker volume
//   is bound to the folder's `data/` (the single node's bound volume); a Docker volume of that name
//   bound elsewhere (made on the engine's own disk before) is refused with what to do. A volume
//   with no disk is a local volume of the engine.
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { ChannelStore } from "../../contract/channel/store";
import type { KeyInput } from "../../contract/payload";
import { LABEL, volumeDevice, volumeName } from "../../contract/render/node-compose";
import {
  type HeldVolume,
  verifyVolumeOrder,
  volumeOrderKey,
  volumeOrderPrefix,
} from "../../contract/swarm/volumes";
import { describeError } from "../../lib/errors";
import * as composeCmd from "../compose/commands";
import type { MountDisk } from "../disks/mount";
import type { DockerRunner } from "../docker";
import * as cmd from "./commands";
import { RouteFloors } from "./routes-pass";

/** A holder's word on one release's volumes, as its status carries it. */
export interface HeldVolumesWord {
  sequence: number;
  ready: string[];
  problem?: string;
}

export interface HeldVolumesDeps {
  nodeId: string;
  stateRoot: string;
  /** Where a volume's folder is (`<volumeRoot>/berth-env-<env>/volumes/<vol>`), as on a single node. */
  volumeRoot: string;
  docker: DockerRunner;
  mountDisk: MountDisk;
  /** Writes the word in the node's signed status of the environment. */
  report: (env: string, word: HeldVolumesWord) => Promise<void>;
}

/** What one order came to (logged when it changes; returned for tests). */
export interface VolumeOrderStep {
  group: string;
  environmentId: string;
  outcome: "ready" | "not-held" | "not-ready" | "refused";
  detail: string;
}

const ORDER_KEY = /\/volumes\/([a-z0-9][a-z0-9-]{0,62})\.json$/;

/** What `docker volume inspect --format '{{json .Options}}'` says a volume is bound to, if anything. */
export function boundDevice(optionsJson: string): string | undefined {
  try {
    const o = JSON.parse(optionsJson) as Record<string, unknown> | null;
    if (o && o.type === "none" && typeof o.o === "string" && o.o.split(",").includes("bind"))
      return typeof o.device === "string" ? o.device : undefined;
  } catch {
    // Not JSON: no options.
  }
  return undefined;
}

/** Makes one held volume ready on this node's engine (its disk mounted and bound, when it has one). */
export async function prepareHeldVolume(
  d: Pick<HeldVolumesDeps, "volumeRoot" | "docker" | "mountDisk">,
  env: string,
  v: HeldVolume,
): Promise<void> {
  const name = volumeName(env, v.name);
  const have = await d.docker(cmd.volumeOptions(name), { allowFailure: true });
  if (!v.disk) {
    if (have.exitCode !== 0) await d.docker(cmd.volumeCreate(name, { [LABEL.environment]: env }));
    return;
  }
  const device = volumeDevice(d.volumeRoot, env, v.name);
  await d.mountDisk(v.disk, dirname(device));
  mkdirSync(device, { recursive: true, mode: 0o755 });
  if (have.exitCode === 0) {
    const bound = boundDevice(have.stdout.trim());
    if (bound === device) return;
    throw new Error(
      `Docker volume ${name} already exists on this node's engine ${bound ? `bound to ${bound}` : "on the engine's own disk"}, not on the volume's disk ${v.disk} (mounted at ${dirname(device)}): copy its data into ${device} if it holds any, remove the Docker volume, and the next pass binds it to the disk`,
    );
  }
  await d.docker(composeCmd.createBoundVolume(name, device, env));
}

export class HeldVolumes {
  readonly floors: RouteFloors;
  /** The order text acted on per group/environment once every volume on this node was ready. */
  private readonly done = new Map<string, string>();
  /** The last word written per environment (rewritten only when it changes). */
  private readonly said = new Map<string, string>();

  constructor(private readonly d: HeldVolumesDeps) {
    this.floors = new RouteFloors(d.stateRoot, "volume-floors.json");
  }

  /** The environments whose volumes this node was told to hold (their statuses heartbeat). */
  environments(): string[] {
    return [...new Set([...this.done.keys()].map((k) => k.slice(k.indexOf("/") + 1)))];
  }

  /** The volumes `volumes` places on this node, made ready; the word on them. */
  async prepare(env: string, sequence: number, volumes: readonly HeldVolume[]): Promise<HeldVolumesWord> {
    const ready: string[] = [];
    const problems: string[] = [];
    for (const v of volumes.filter((x) => x.node === this.d.nodeId)) {
      try {
        await prepareHeldVolume(this.d, env, v);
        ready.push(v.name);
      } catch (e) {
        problems.push(`${v.name}: ${describeError(e)}`);
      }
    }
    return { sequence, ready, ...(problems.length > 0 ? { problem: problems.join("; ") } : {}) };
  }

  /** Reads the group's volume orders; makes ready and reports each that places a volume here. */
  async refresh(
    channel: ChannelStore,
    o: { group: string; leaderStatusKey: KeyInput },
  ): Promise<VolumeOrderStep[]> {
    const steps: VolumeOrderStep[] = [];
    const envs = (await channel.list(volumeOrderPrefix(o.group)))
      .map((k) => ORDER_KEY.exec(k)?.[1])
      .filter((e): e is string => e !== undefined)
      .sort();
    for (const env of envs) {
      const k = `${o.group}/${env}`;
      const text = await channel.get(volumeOrderKey(o.group, env));
      if (text === undefined || this.done.get(k) === text) continue;
      try {
        const floor = this.floors.get(o.group, env);
        const order = verifyVolumeOrder(text, {
          group: o.group,
          environmentId: env,
          leaderStatusKey: o.leaderStatusKey,
          ...(floor ? { floor } : {}),
        });
        this.floors.set(o.group, env, { sequence: order.sequence, withdrawn: order.withdrawn });
        if (!order.volumes.some((v) => v.node === this.d.nodeId)) {
          this.done.set(k, text);
          steps.push({
            group: o.group,
            environmentId: env,
            outcome: "not-held",
            detail: `release ${order.sequence}: no volume on this node`,
          });
          continue;
        }
        const word = await this.prepare(env, order.sequence, order.volumes);
        const said = JSON.stringify(word);
        if (this.said.get(env) !== said) {
          await this.d.report(env, word);
          this.said.set(env, said);
        }
        if (!word.problem) this.done.set(k, text);
        steps.push({
          group: o.group,
          environmentId: env,
          outcome: word.problem ? "not-ready" : "ready",
          detail: `release ${order.sequence}: ${word.ready.length > 0 ? `${word.ready.join(", ")} ready` : "none ready"}${word.problem ? `; ${word.problem}` : ""}`,
        });
      } catch (e) {
        steps.push({ group: o.group, environmentId: env, outcome: "refused", detail: describeError(e) });
      }
    }
    return steps;
  }

  /** Taken out of the group: its orders are forgotten (the volumes and their data stay). */
  drop(group: string): void {
    for (const k of [...this.done.keys()]) if (k.startsWith(`${group}/`)) this.done.delete(k);
  }
}
