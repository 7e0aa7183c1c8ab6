// A workspace's state backed up with the environments' machinery (node-agent/backup/): its working
// tree (the clone on the node, uncommitted work included) and its home (the state volume's folder)
// are two snapshot series, `tree` and `home`, of the workspace's own restic repository. Backed up
// on the declared schedule and each time the workspace stops idle; restored from the newest
// snapshots when a node without the workspace's state (a replacement) first brings it up, so the
// clone is skipped and the home is not filled from the image. The Backups shell keeps its records
// under <state>/workspace-backups/, apart from the environments'.
import { join } from "node:path";
import type { NodeBackup } from "../../contract/backup/schema";
import type { BackupStatus } from "../../contract/channel/status";
import type { BackupCredentials, WorkspaceBackup } from "../../contract/workspace/declaration";
import type { Logger } from "../../lib/log";
import { Backups, type ResticRunner, type RestoreReport } from "../backup/backups";
import type { Snapshot } from "../backup/restic";
import type { DockerRunner } from "../docker";

export const TREE_SERIES = "tree";
export const HOME_SERIES = "home";
/** The agent's notes of the workspace (the commit the tree was put at: following resumes from it). */
export const META_SERIES = "meta";

/** The names the credentials go by in the Backups shell's secrets map. */
const SECRET_NAMES = {
  password: "password",
  accessKeyId: "access-key-id",
  secretAccessKey: "secret-access-key",
};

/** What the Backups shell backs up for a workspace: its tree and its home folder (pure). */
export function workspaceNodeBackup(
  b: WorkspaceBackup,
  where: { tree: string; home: string; meta: string },
): NodeBackup {
  const series = (name: string, device: string) => ({
    name,
    device,
    schedule: b.schedule,
    retention: b.retention,
    stop: [],
  });
  return {
    repository: b.repository,
    region: b.region,
    pruneSchedule: b.pruneSchedule,
    checkSchedule: b.checkSchedule,
    restoreOnFirstApply: b.restoreOnFirstStart,
    secrets: SECRET_NAMES,
    volumes: [
      series(TREE_SERIES, where.tree),
      series(HOME_SERIES, where.home),
      series(META_SERIES, where.meta),
    ],
  };
}

export function backupSecrets(c: BackupCredentials): Record<string, string> {
  return {
    [SECRET_NAMES.password]: c.password,
    [SECRET_NAMES.accessKeyId]: c.accessKeyId,
    [SECRET_NAMES.secretAccessKey]: c.secretAccessKey,
  };
}

export interface WorkspaceBackupsDeps {
  stateRoot: string;
  /** Docker for the Backups shell (hooks, containers of a replaced volume: none for workspaces). */
  docker: DockerRunner;
  log: Logger;
  restic?: ResticRunner;
  resticPath?: string;
}

/** The Backups shell for workspaces: one "environment" per workspace id, records apart. */
export class WorkspaceBackups {
  private readonly b: Backups;

  constructor(d: WorkspaceBackupsDeps) {
    this.b = new Backups({
      stateRoot: join(d.stateRoot, "workspace-backups"),
      docker: d.docker,
      log: d.log,
      ...(d.restic ? { restic: d.restic } : {}),
      ...(d.resticPath ? { resticPath: d.resticPath } : {}),
    });
  }

  /** What the schedules say is due (and missed), run now. */
  tick(id: string, nb: NodeBackup, secrets: Record<string, string>): Promise<boolean> {
    return this.b.tick(id, nb, secrets);
  }

  /** Every series now (after an idle stop, before a restore), under the backup lock. */
  async backupNow(id: string, nb: NodeBackup, secrets: Record<string, string>) {
    const lock = this.b.lock(id);
    try {
      return await this.b.backupNow(id, nb, secrets);
    } finally {
      lock.release();
    }
  }

  /** The workspace's snapshots, every series, oldest first (none without a repository). */
  snapshots(id: string, nb: NodeBackup, secrets: Record<string, string>): Promise<Snapshot[]> {
    return this.b.snapshots(id, this.b.access(nb, secrets));
  }

  /**
   * Replaces each series' folder with the named snapshot (an operator's restore: the caller
   * stopped the container and backed the current state up first), under the backup lock.
   */
  async restoreSnapshots(
    id: string,
    nb: NodeBackup,
    secrets: Record<string, string>,
    snapshotIds: readonly string[],
  ): Promise<RestoreReport["volumes"]> {
    const lock = this.b.lock(id);
    try {
      const out: RestoreReport["volumes"] = [];
      for (const snapshot of snapshotIds) {
        const r = await this.b.restore(id, nb, secrets, { reason: "operator", snapshot, force: true });
        out.push(...r.volumes);
      }
      return out;
    } finally {
      lock.release();
    }
  }

  /** Fills the empty tree and home from their newest snapshots (a node's first start). */
  async restoreFirstStart(id: string, nb: NodeBackup, secrets: Record<string, string>) {
    const lock = this.b.lock(id);
    try {
      return await this.b.restore(id, nb, secrets, { reason: "first-apply" });
    } finally {
      lock.release();
    }
  }

  status(id: string): BackupStatus | undefined {
    return this.b.status(id);
  }
}
