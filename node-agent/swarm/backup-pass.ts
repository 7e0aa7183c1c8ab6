// Backups on a node group (issue 23): the volume is a Docker volume of the engine of the node that
// holds it, and only the group's leader receives the release with the backup settings and the
// sealed secrets, so the leader hands each holder its backup order (contract/swarm/backups.ts):
//
// - publishBackupOrders (the leader): one order per swarm environment it runs with `x-berth.backup`,
//   the repository password and bucket keys sealed again to each holder's node key as the
//   membership pins it; a withdrawn order for one it no longer runs (or that no longer backs up).
//   Written again when its content or a holder's key changed, or the channel no longer holds it
//   as written.
// - HeldBackupOrders (every member): each order verified against the leader's key, not below the
//   (sequence, withdrawn) acted on (<stateRoot>/swarm/backup-floors.json), its boxes for this node
//   opened (to refuse one that does not open, then forgotten); the verified text kept in
//   <stateRoot>/swarm/backup-orders/<group>/<env>.json (sealed: the secrets never touch the disk
//   in plain text), opened again in memory when the backups run.
// - runHeldBackups: the holder's scheduled backups against its own engine's volumes (their folder
//   is the engine's `docker volume inspect` Mountpoint), the single node's restic code
//   (backup/backups.ts) with its own record under <stateRoot>/swarm/environments/<env>/.
// - restoreHeldVolumes: before a node joins the swarm (a replaced holder), its volumes are
//   created on its engine and every empty one filled from its newest snapshot, so the pinned
//   task, which can only run here once the node joined, never starts on an empty volume while
//   its data sits in a backup (the single node's restore before a first apply).
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { NodeBackup } from "../../contract/backup/schema";
import type { ChannelStore } from "../../contract/channel/store";
import { isId } from "../../contract/ids";
import type { KeyInput } from "../../contract/payload";
import { LABEL, volumeName } from "../../contract/render/node-compose";
import {
  type BackupOrder,
  backupHolders,
  backupOrderKey,
  backupOrderPrefix,
  type HeldBackup,
  openBackupOrder,
  type SwarmBackup,
  sealOrderSecrets,
  signBackupOrder,
  verifyBackupOrder,
} from "../../contract/swarm/backups";
import { writeFileAtomic } from "../../lib/atomic-write";
import { describeError } from "../../lib/errors";
import type { DockerRunner } from "../docker";
import * as cmd from "./commands";
import { boundDevice } from "./held-volumes";
import { type GroupMemberKey, RouteFloors } from "./routes-pass";

/** A swarm environment the leader runs with backups: its release and that release's opened secrets. */
export interface LedBackup {
  environmentId: string;
  sequence: number;
  backup: SwarmBackup;
  /** The release's opened secrets (the backup's three are sealed on; no other leaves the leader). */
  secrets: Readonly<Record<string, string>>;
}

/** What one order came to (logged when it changes; returned for tests). */
export interface BackupOrderStep {
  group: string;
  environmentId: string;
  outcome: "written" | "withdrawn" | "held" | "not-held" | "refused";
  detail: string;
}

const ORDER_KEY = /\/backups\/([a-z0-9][a-z0-9-]{0,62})\.json$/;

/** The leader's memo of the orders it wrote: environment → what they hold (a digest) and text. */
export type OrderMemo = Map<string, { what: string; sequence: number; text: string }>;

/** A digest of an order's content and its holders' keys (never logged: it covers secret values). */
function orderDigest(e: LedBackup, members: readonly GroupMemberKey[]): string {
  const h = createHash("sha256");
  h.update(JSON.stringify({ s: e.sequence, b: e.backup }));
  for (const holder of backupHolders(e.backup))
    h.update(`\0${holder}\0${members.find((m) => m.nodeId === holder)?.publicKey ?? ""}`);
  for (const name of [
    e.backup.secrets.password,
    e.backup.secrets.accessKeyId,
    e.backup.secrets.secretAccessKey,
  ])
    h.update(`\0${name}\0${e.secrets[name] ?? ""}`);
  return h.digest("hex");
}

/** The leader: an order per environment it runs with backups (or ran), written when needed. */
export async function publishBackupOrders(
  channel: ChannelStore,
  o: {
    group: string;
    statusPrivateKey: KeyInput;
    statusPublicKey: KeyInput;
    environments: readonly LedBackup[];
    memo: OrderMemo;
    /** The group's members: each holder gets the secrets sealed to its key. */
    members: readonly GroupMemberKey[];
  },
): Promise<BackupOrderStep[]> {
  const steps: BackupOrderStep[] = [];
  const listed = (await channel.list(backupOrderPrefix(o.group)))
    .map((k) => ORDER_KEY.exec(k)?.[1])
    .filter((e): e is string => e !== undefined);
  for (const e of o.environments) {
    const key = backupOrderKey(o.group, e.environmentId);
    const what = orderDigest(e, o.members);
    const memo = o.memo.get(e.environmentId);
    if (memo?.what === what && (await channel.get(key)) === memo.text) continue;
    try {
      const text = signBackupOrder(
        {
          group: o.group,
          environmentId: e.environmentId,
          sequence: e.sequence,
          withdrawn: false,
          backup: e.backup,
          maintainer: backupHolders(e.backup)[0] ?? "",
          secrets: sealOrderSecrets(e.backup, e.secrets, o.members, {
            environmentId: e.environmentId,
            sequence: e.sequence,
          }),
        },
        o.statusPrivateKey,
      );
      await channel.put(key, text);
      o.memo.set(e.environmentId, { what, sequence: e.sequence, text });
      steps.push({
        group: o.group,
        environmentId: e.environmentId,
        outcome: "written",
        detail: `release ${e.sequence}: ${e.backup.volumes.map((v) => `${v.name} on ${v.node}`).join(", ")}`,
      });
    } catch (err) {
      steps.push({
        group: o.group,
        environmentId: e.environmentId,
        outcome: "refused",
        detail: describeError(err),
      });
    }
  }
  // One it no longer runs with backups: its last order withdrawn, so the holders stop.
  const running = new Set(o.environments.map((e) => e.environmentId));
  for (const env of new Set([...listed, ...o.memo.keys()])) {
    if (running.has(env)) continue;
    const key = backupOrderKey(o.group, env);
    const held = await channel.get(key);
    let last: BackupOrder | undefined;
    try {
      if (held !== undefined)
        last = verifyBackupOrder(held, {
          group: o.group,
          environmentId: env,
          leaderStatusKey: o.statusPublicKey,
        });
    } catch {
      // Not the leader's own: a holder refuses it anyway.
    }
    if (last?.withdrawn) continue;
    const sequence = last?.sequence ?? o.memo.get(env)?.sequence;
    if (sequence === undefined) continue;
    const text = signBackupOrder(
      { group: o.group, environmentId: env, sequence, withdrawn: true },
      o.statusPrivateKey,
    );
    await channel.put(key, text);
    o.memo.delete(env);
    steps.push({ group: o.group, environmentId: env, outcome: "withdrawn", detail: `release ${sequence}` });
  }
  return steps;
}

/** A holder's order as it runs: the environment, its release, and its part opened. */
export interface HeldOrder {
  group: string;
  environmentId: string;
  sequence: number;
  held: HeldBackup;
  /** The leader's status key the order verified against (the membership's pin when it was kept). */
  leaderStatusKey: string;
}

/** Every member: the orders of its groups, verified and kept on disk (sealed). */
export class HeldBackupOrders {
  readonly floors: RouteFloors;
  private readonly dir: string;
  /** The order text acted on per group/environment (an unchanged order costs one read). */
  private readonly applied = new Map<string, string>();

  constructor(
    stateRoot: string,
    private readonly node: { nodeId: string; nodePrivateKey: KeyInput },
  ) {
    this.floors = new RouteFloors(stateRoot, "backup-floors.json");
    this.dir = join(stateRoot, "swarm", "backup-orders");
  }

  private file(group: string, env: string): string {
    return join(this.dir, group, `${env}.json`);
  }

  /** Reads the group's orders, keeps each that verifies and opens for this node. */
  async refresh(
    channel: ChannelStore,
    o: { group: string; leaderStatusKey: KeyInput },
  ): Promise<BackupOrderStep[]> {
    const steps: BackupOrderStep[] = [];
    const envs = (await channel.list(backupOrderPrefix(o.group)))
      .map((k) => ORDER_KEY.exec(k)?.[1])
      .filter((e): e is string => e !== undefined)
      .sort();
    for (const env of envs) {
      const text = await channel.get(backupOrderKey(o.group, env));
      const k = `${o.group}/${env}`;
      if (text === undefined || this.applied.get(k) === text) continue;
      try {
        const floor = this.floors.get(o.group, env);
        const order = verifyBackupOrder(text, {
          group: o.group,
          environmentId: env,
          leaderStatusKey: o.leaderStatusKey,
          ...(floor ? { floor } : {}),
        });
        // Opened once to refuse a box that does not open; the values are not kept.
        const held = openBackupOrder(order, this.node.nodeId, this.node.nodePrivateKey);
        const file = this.file(o.group, env);
        if (held) {
          mkdirSync(join(this.dir, o.group), { recursive: true, mode: 0o700 });
          writeFileAtomic(file, `${JSON.stringify({ leaderStatusKey: String(o.leaderStatusKey), text })}\n`);
        } else rmSync(file, { force: true });
        this.floors.set(o.group, env, { sequence: order.sequence, withdrawn: order.withdrawn });
        this.applied.set(k, text);
        steps.push({
          group: o.group,
          environmentId: env,
          outcome: held ? "held" : order.withdrawn ? "withdrawn" : "not-held",
          detail: held
            ? `release ${order.sequence}: backs up ${held.backup.volumes.map((v) => v.name).join(", ")}${held.maintains ? "; prunes and checks the repository" : ""}`
            : `release ${order.sequence}: no volume on this node`,
        });
      } catch (e) {
        steps.push({ group: o.group, environmentId: env, outcome: "refused", detail: describeError(e) });
      }
    }
    return steps;
  }

  /** The orders this node holds, opened in memory (a stored order that no longer opens is skipped). */
  held(onError?: (env: string, detail: string) => void): HeldOrder[] {
    if (!existsSync(this.dir)) return [];
    const out: HeldOrder[] = [];
    for (const group of readdirSync(this.dir).filter(isId).sort())
      for (const f of readdirSync(join(this.dir, group)).sort()) {
        const env = f.replace(/\.json$/, "");
        if (!f.endsWith(".json") || !isId(env)) continue;
        try {
          const stored = JSON.parse(readFileSync(join(this.dir, group, f), "utf8")) as {
            leaderStatusKey: string;
            text: string;
          };
          const order = verifyBackupOrder(stored.text, {
            group,
            environmentId: env,
            leaderStatusKey: stored.leaderStatusKey,
          });
          const held = openBackupOrder(order, this.node.nodeId, this.node.nodePrivateKey);
          if (held)
            out.push({
              group,
              environmentId: env,
              sequence: order.sequence,
              held,
              leaderStatusKey: stored.leaderStatusKey,
            });
        } catch (e) {
          onError?.(env, describeError(e));
        }
      }
    return out;
  }

  /** Taken out of the group: its orders go (the backups stop). */
  drop(group: string): void {
    rmSync(join(this.dir, group), { recursive: true, force: true });
    for (const k of [...this.applied.keys()]) if (k.startsWith(`${group}/`)) this.applied.delete(k);
  }
}

/** How a volume's folder reads while its engine has no such volume yet. */
export const NO_VOLUME_YET = "(no Docker volume";

/**
 * The holder's settings as the single node's backups take them: each volume's folder is where
 * its engine keeps the Docker volume (`docker volume inspect`; a volume bound to a folder, as one
 * on a cloud disk is, that folder), or a note that it has none yet.
 */
export async function nodeBackupOf(docker: DockerRunner, env: string, b: SwarmBackup): Promise<NodeBackup> {
  const volumes: NodeBackup["volumes"] = [];
  for (const v of b.volumes) {
    const name = volumeName(env, v.name);
    const opts = await docker(cmd.volumeOptions(name), { allowFailure: true });
    const bound = opts.exitCode === 0 ? boundDevice(opts.stdout.trim()) : undefined;
    const r = bound
      ? { exitCode: 0, stdout: bound }
      : await docker(cmd.volumeMountpoint(name), { allowFailure: true });
    const device = r.exitCode === 0 ? r.stdout.trim() : "";
    const { node: _node, ...rest } = v;
    volumes.push({
      ...rest,
      device: device || `${NO_VOLUME_YET} ${name} on this node's engine: no task has mounted it yet)`,
    });
  }
  return { ...b, volumes };
}

/** Creates the environment's volumes this node holds on its engine (before it joins the swarm). */
export async function createHeldVolumes(docker: DockerRunner, env: string, b: SwarmBackup): Promise<void> {
  for (const v of b.volumes) {
    const name = volumeName(env, v.name);
    const have = await docker(cmd.volumeMountpoint(name), { allowFailure: true });
    if (have.exitCode !== 0) await docker(cmd.volumeCreate(name, { [LABEL.environment]: env }));
  }
}
