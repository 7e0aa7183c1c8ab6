// The daemon's side of workspaces: each pass reads this node's Workspace declarations from the
// channel, verifies them (signed by a trusted key, for this node), and brings up what is new or
// changed, in the background so a long build never holds the release applies of the same loop.
// A declaration gone from the channel takes its workspace down. Every status change is written
// to the channel (nodes/<node>/status/workspaces/<id>.json).
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { ChannelStore } from "../../contract/channel/store";
import type { TrustedKeys } from "../../contract/payload";
import { canonicalJson } from "../../contract/payload/canonical";
import {
  type SealedGitCredential,
  unsealBackupCredentials,
  unsealGitCredential,
  unsealRegistryLogin,
  verifyWorkspace,
  WORKSPACE_LIFECYCLE_DEFAULTS,
  type WorkspaceDeclaration,
  type WorkspaceLifecycle,
  type WorkspaceStatus,
  workspaceKeys,
  workspacesFromKeys,
} from "../../contract/workspace/declaration";
import type { Logger } from "../../lib/log";
import { registerSecret, scrubSecrets } from "../../lib/log";
import {
  backupSecrets,
  HOME_SERIES,
  TREE_SERIES,
  type WorkspaceBackups,
  workspaceNodeBackup,
} from "./backup";
import type { WorkspaceExecutor, WorkspaceSpec } from "./executor";
import { decideFollow, type FollowState, followDue, switchNow } from "./follow";
import { GenerationFloors } from "./generation-floor";
import { idleDecision, WorkspaceActivity } from "./idle";
import { metaFolder, noteFolderRoot, restoreFolderRoot, takeSwitchRequest } from "./meta-folder";
import { operatorRestore } from "./operator-restore";
import { snapshotSets, type WorkspaceSnapshot } from "./snapshot-sets";
import type { StatusReporter } from "./status-recorder";

export function specFromDeclaration(
  d: WorkspaceDeclaration,
  login: { username: string; password: string } | undefined,
  pushLogin?: { username: string; password: string },
  gitCredential?: SealedGitCredential,
): WorkspaceSpec {
  return {
    id: d.workspaceId,
    nodeId: d.nodeId,
    generation: d.generation,
    repository: d.repository,
    repositoryName: d.repositoryName,
    branch: d.branch,
    defaultBranch: d.defaultBranch,
    ...(d.config ? { config: d.config } : {}),
    trusted: d.trusted,
    allowInitializeCommand: d.allowInitializeCommand,
    defaultImage: d.defaultImage,
    ...(d.limits ? { limits: d.limits } : {}),
    ...(gitCredential ? { gitCredential } : {}),
    ...(d.registry
      ? {
          registry: {
            namespace: d.registry.namespace,
            ...(login ? { login } : {}),
            ...(pushLogin ? { pushLogin } : {}),
          },
        }
      : {}),
  };
}

export interface WorkspaceSyncDeps {
  channel: ChannelStore;
  nodeId: string;
  trustedKeys: TrustedKeys;
  nodePrivateKey: string;
  /** The agent's state root (workspaces live under <stateRoot>/workspaces). */
  stateRoot: string;
  /** Made on first use (nodes without workspaces never need the devcontainer CLI). */
  executor: (report: StatusReporter) => WorkspaceExecutor;
  log: Logger;
  /**
   * Sessions and process activity (idle.ts); the access endpoint reports sessions to it. The
   * daemon's is kept on disk (activity-file.ts); without one, it lives in memory.
   */
  activity?: WorkspaceActivity;
  /** Bounds a wake (an access to a stopped workspace waits this long at most). */
  wakeTimeoutSeconds?: number;
  /** Backups of the workspaces that declare one (backup.ts); without it, none are made. */
  backups?: WorkspaceBackups;
}

/** The declaration's lifecycle with the defaults filled in. */
export function lifecycleOf(d: Pick<WorkspaceDeclaration, "lifecycle">): Required<WorkspaceLifecycle> {
  return { ...WORKSPACE_LIFECYCLE_DEFAULTS, ...d.lifecycle };
}

export class WorkspaceSync {
  private exec?: WorkspaceExecutor;
  /** Workspaces being brought up (or pushing their cache) right now. */
  readonly inFlight = new Map<string, Promise<WorkspaceStatus>>();
  private readonly refused = new Map<string, string>();
  /** Workspaces being woken (an access came for a stopped one) or switched to their branch. */
  private readonly waking = new Map<string, Promise<void>>();
  /** Branch fetches under way, when each workspace's branch was last fetched, and its builds. */
  private readonly following = new Map<string, Promise<void>>();
  private readonly lastFetch = new Map<string, number>();
  private readonly building = new Set<string>();
  /** Backups under way (scheduled, or after an idle stop); each workspace's home folder. */
  private readonly backingUp = new Map<string, Promise<void>>();
  private readonly homes = new Map<string, string>();
  readonly activity: WorkspaceActivity;

  constructor(private readonly d: WorkspaceSyncDeps) {
    this.activity = d.activity ?? new WorkspaceActivity();
  }

  executor(): WorkspaceExecutor {
    if (!this.exec) {
      this.exec = this.d.executor(this.reporter());
      for (const p of this.exec.removeLeftovers())
        this.d.log.warn({ path: p }, "removed a Docker config left by a crash");
    }
    return this.exec;
  }

  /** A reporter that writes a status to the channel. */
  reporter(): StatusReporter {
    return async (s: WorkspaceStatus) =>
      this.d.channel.put(
        workspaceKeys.status(this.d.nodeId, s.workspaceId),
        `${JSON.stringify(scrubSecrets(s), null, 2)}\n`,
      );
  }

  /**
   * The verified declaration of one workspace, or undefined when the channel has none. Its
   * generation must not be below the floor this node keeps (the highest it accepted, kept on
   * disk past the workspace's removal), and a declaration of the floor's generation must be the
   * one accepted then: an older signed declaration put back in the channel is refused.
   */
  async declaration(id: string): Promise<WorkspaceDeclaration | undefined> {
    const text = await this.d.channel.get(workspaceKeys.declaration(this.d.nodeId, id));
    if (text === undefined) return undefined;
    const d = verifyWorkspace(text, {
      trustedKeys: this.d.trustedKeys,
      nodeId: this.d.nodeId,
      workspaceId: id,
    });
    const floors = new GenerationFloors(join(this.d.stateRoot, "workspace-floors"));
    floors.admit(id, d.generation, createHash("sha256").update(canonicalJson(d)).digest("hex"));
    return d;
  }

  spec(d: WorkspaceDeclaration): WorkspaceSpec {
    const login = unsealRegistryLogin(d, this.d.nodePrivateKey);
    const pushLogin = unsealRegistryLogin(d, this.d.nodePrivateKey, "push");
    const git = unsealGitCredential(d, this.d.nodePrivateKey);
    for (const l of [login, pushLogin]) if (l) registerSecret(l.password);
    if (git) registerSecret("sshKey" in git ? git.sshKey : git.password);
    const backup = unsealBackupCredentials(d, this.d.nodePrivateKey);
    if (backup) for (const v of Object.values(backup)) registerSecret(v);
    return specFromDeclaration(d, login, pushLogin, git);
  }

  /** One pass; returns the ids it started bringing up. */
  async pollOnce(): Promise<string[]> {
    const keys = await this.d.channel.list(workspaceKeys.declarationsPrefix(this.d.nodeId));
    const declared = workspacesFromKeys(this.d.nodeId, keys);
    const started: string[] = [];
    const verified = new Map<string, WorkspaceDeclaration>();
    for (const id of declared) {
      if (this.inFlight.has(id) || this.waking.has(id)) continue;
      let d: WorkspaceDeclaration | undefined;
      try {
        d = await this.declaration(id);
      } catch (e) {
        const why = (e as Error).message;
        if (this.refused.get(id) !== why) {
          this.refused.set(id, why);
          this.d.log.warn({ workspace: id, reason: why }, "workspace declaration refused");
          await this.reporter()({
            formatVersion: 1,
            workspaceId: id,
            nodeId: this.d.nodeId,
            state: "failed",
            push: "none",
            phases: [],
            error: `the declaration was refused: ${why}`,
            updatedAt: new Date().toISOString(),
          });
        }
        continue;
      }
      if (!d) continue;
      this.refused.delete(id);
      verified.set(id, d);
      const ex = this.executor();
      const current = ex.status(id);
      // Stopped for idleness: it stays so until an access wakes it.
      const asLeft =
        current?.state === "running" || (current?.state === "stopped" && current.stopped !== undefined);
      const upToDate =
        current?.generation === d.generation &&
        (asLeft || current.state === "failed") &&
        (current.state === "failed" || (await ex.containers(id)).length > 0);
      if (upToDate) {
        // The credential's socket lives in the agent: after a restart it is served again.
        if (d.gitCredential && !ex.git.has(id))
          await ex
            .serveGitCredential(this.spec(d))
            .catch((e) =>
              this.d.log.warn(
                { workspace: id, err: (e as Error).message },
                "could not serve the git credential",
              ),
            );
        continue;
      }
      started.push(id);
      this.activity.forget(id);
      this.homes.delete(id);
      const spec = this.spec(d);
      const job = this.restoreFirstStart(d, spec)
        .then(() => ex.up(spec))
        .then(async (r) => {
          // What the restore found (and the backups so far) in the status the start wrote.
          const backup = d.backup ? this.d.backups?.status(id) : undefined;
          if (backup && r.status.state === "running") await ex.patchStatus(id, { backup });
          return r.background;
        })
        .catch((e) => {
          this.d.log.error({ workspace: id, err: (e as Error).message }, "workspace up failed");
          return ex.status(id) as WorkspaceStatus;
        })
        .finally(() => this.inFlight.delete(id));
      this.inFlight.set(id, job);
    }
    if (this.exec || declared.length > 0 || existsSync(join(this.d.stateRoot, "workspaces"))) {
      const ex = this.executor();
      for (const id of ex.list()) {
        if (declared.includes(id) || this.inFlight.has(id)) continue;
        try {
          await ex.down(id);
          await this.reporter()({
            formatVersion: 1,
            workspaceId: id,
            nodeId: this.d.nodeId,
            state: "stopped",
            push: "none",
            phases: [],
            updatedAt: new Date().toISOString(),
          });
          this.activity.forget(id);
          this.lastFetch.delete(id);
          this.homes.delete(id);
          this.d.log.info({ workspace: id }, "workspace removed (no longer declared)");
        } catch (e) {
          this.d.log.error({ workspace: id, err: (e as Error).message }, "could not remove workspace");
        }
      }
    }
    // An open session is activity now (kept on disk for a restart: activity-file.ts).
    this.activity.heartbeat();
    await this.stopIdle(verified);
    this.followBranches(verified);
    for (const [id, d] of verified) if (d.backup) this.backUp(id, d, "scheduled");
    for (const [id, d] of verified)
      if (!this.waking.has(id) && !this.inFlight.has(id) && takeSwitchRequest(this.executor().dir(id)))
        this.busy(id, this.switchBranch(id, d, "asked"));
    return started;
  }

  /** A wake or switch of `id`, one at a time, which the passes leave alone while it runs. */
  private busy(id: string, work: Promise<void>): Promise<void> {
    const job = work
      .catch((e) => {
        this.d.log.error({ workspace: id, err: (e as Error).message }, "workspace switch or wake failed");
        throw e;
      })
      .finally(() => this.waking.delete(id));
    this.waking.set(id, job);
    job.catch(() => undefined);
    return job;
  }

  /** Starts a fetch of each workspace's branch that is due (followSeconds), in the background. */
  private followBranches(declarations: Map<string, WorkspaceDeclaration>): void {
    const ex = this.exec;
    if (!ex) return;
    const now = Date.now();
    for (const [id, d] of declarations) {
      if (this.inFlight.has(id) || this.waking.has(id) || this.following.has(id)) continue;
      const s = ex.status(id);
      const settled = s?.state === "running" || (s?.state === "stopped" && s.stopped !== undefined);
      if (!settled || !followDue(this.lastFetch.get(id), now, lifecycleOf(d).followSeconds)) continue;
      this.lastFetch.set(id, now);
      const job = this.followOnce(id, d)
        .catch((e) =>
          this.d.log.warn(
            { workspace: id, err: (e as Error).message },
            "could not follow the workspace's branch",
          ),
        )
        .finally(() => this.following.delete(id));
      this.following.set(id, job);
    }
  }

  /**
   * One fetch of the branch and what follow.ts makes of it: recorded in the status's `follow`, and
   * the new commit's image built in the background when its key differs from the running one.
   */
  private async followOnce(id: string, d: WorkspaceDeclaration): Promise<void> {
    const ex = this.executor();
    const spec = this.spec(d);
    const fetched = await ex.follower.fetchBranch(spec);
    const s = ex.status(id);
    if (!s) return;
    const base = s.commit;
    const fetchedAt = new Date().toISOString();
    if (!base) {
      await ex.patchStatus(id, {
        follow: {
          commit: fetched,
          fetchedAt,
          state: "held",
          reason:
            "the commit the working tree was cloned at is unknown (cloned by an older agent): update it by hand",
        },
      });
      return;
    }
    const branch = {
      head: base,
      fetched,
      fastForward: await ex.follower.isAncestor(spec, base, fetched),
      contained: await ex.follower.isAncestor(spec, fetched, base),
    };
    const input = { branch, runningKey: s.cacheKey, previous: s.follow, building: this.building.has(id) };
    let decision = decideFollow(input);
    let source: string | undefined;
    if ("needsKey" in decision) {
      source = await ex.follower.checkoutFetched(spec, fetched);
      decision = decideFollow({ ...input, fetched: { key: ex.follower.keyOf(spec, source) } });
    }
    if ("needsKey" in decision) return;
    const key = decision.build ? decision.key : s.follow?.commit === fetched ? s.follow.cacheKey : undefined;
    const follow: FollowState = {
      commit: fetched,
      // When this commit was first fetched.
      fetchedAt: s.follow?.commit === fetched ? s.follow.fetchedAt : fetchedAt,
      state: decision.state,
      ...(key ? { cacheKey: key } : {}),
      ...(!decision.build && decision.reason ? { reason: decision.reason } : {}),
      ...(s.follow?.commit === fetched && s.follow.image ? { image: s.follow.image } : {}),
    };
    // Written when it changed (a fetch finding nothing new writes nothing).
    if (JSON.stringify(follow) !== JSON.stringify(s.follow)) await ex.patchStatus(id, { follow });
    if (!decision.build || !source) {
      if (source) rmSync(source, { recursive: true, force: true });
      return;
    }
    this.building.add(id);
    try {
      this.d.log.info(
        { workspace: id, commit: fetched, key: decision.key },
        "building the branch's new image",
      );
      const built = await ex.follower.prebuild(spec, source);
      const done: FollowState =
        built.state === "failed"
          ? {
              ...follow,
              state: "failed",
              reason: `the build of ${fetched.slice(0, 12)} failed: ${built.error ?? ""}`,
            }
          : { ...follow, state: "ready", ...(built.image ? { image: built.image } : {}) };
      // The status may have moved on meanwhile (a switch, a new declaration): only the same commit's.
      if (ex.status(id)?.follow?.commit === fetched) await ex.patchStatus(id, { follow: done });
    } finally {
      this.building.delete(id);
      rmSync(source, { recursive: true, force: true });
    }
  }

  /**
   * Moves the workspace to the commit its branch is `ready` at: the tree fast-forwarded inside the
   * container (local work kept, or the switch is `held` with git's reason), then, when the image
   * changed, the new image started in a new container with the same tree and home. `start`: the
   * workspace was stopped and starts now (the old image when nothing is ready).
   */
  private async switchBranch(id: string, d: WorkspaceDeclaration, how: "start" | "asked"): Promise<void> {
    const ex = this.executor();
    const s = ex.status(id);
    if (!s) return;
    const f = s.follow;
    const stopped = s.state === "stopped" && s.stopped !== undefined;
    if (!f || !switchNow(f, { starting: how === "start", asked: how === "asked" })) {
      if (stopped) await ex.wake(id);
      return;
    }
    // The tree moves inside the container: it runs first.
    if (stopped) await ex.wake(id);
    const spec = this.spec(d);
    const c = await ex.runningContainer(id);
    const moved = await ex.follower.advanceTree(spec, {
      container: c.id,
      user: c.user,
      folder: c.folder,
      commit: f.commit,
      ...(s.commit ? { base: s.commit } : {}),
    });
    if (!moved.ok) {
      this.d.log.warn({ workspace: id, reason: moved.reason }, "the branch's commit is held");
      await ex.patchStatus(id, { follow: { ...f, state: "held", reason: moved.reason } });
      return;
    }
    await ex.patchStatus(id, { commit: f.commit });
    this.d.log.info({ workspace: id, commit: f.commit, how }, "working tree moved to the branch's commit");
    if (f.cacheKey && f.cacheKey !== s.cacheKey) {
      this.activity.forget(id);
      const up = await ex.up(spec);
      if (up.status.state !== "running")
        throw new Error(`the new image did not start: ${up.status.error ?? ""}`);
      // The cache push goes on in the background, as after any start.
      up.background.catch(() => undefined);
    }
    const { reason: _, ...rest } = f;
    await ex.patchStatus(id, { follow: { ...rest, state: "current" } });
  }

  /**
   * Stops the running workspaces that had no session and no process activity for their idle
   * timeout (idle.ts decides); their container, tree and home are kept for the next access.
   */
  private async stopIdle(declarations: Map<string, WorkspaceDeclaration>): Promise<void> {
    if (!this.exec) return;
    const ex = this.exec;
    for (const [id, d] of declarations) {
      if (this.inFlight.has(id) || this.waking.has(id)) continue;
      const timeout = lifecycleOf(d).idleTimeoutSeconds;
      const s = ex.status(id);
      if (timeout <= 0 || s?.state !== "running" || !s.containerId) continue;
      try {
        const cpuNanos = await ex.cpuNanos(s.containerId);
        this.activity.observe(id, { atMs: Date.now(), cpuNanos });
      } catch (e) {
        // No sample (the container is gone or stopped by hand): the other signals still count.
        this.d.log.debug({ workspace: id, err: (e as Error).message }, "no CPU sample");
      }
      const decision = idleDecision({
        nowMs: Date.now(),
        idleTimeoutSeconds: timeout,
        openSessions: this.activity.openSessions(id),
        lastActiveMs: this.activity.lastActiveMs(id),
      });
      if (!decision.stop) continue;
      try {
        await ex.stopIdle(id, new Date(decision.idleSinceMs));
        this.activity.forget(id);
        // Its state is at rest: a good moment for a backup.
        if (d.backup) this.backUp(id, d, "now");
        this.d.log.info(
          { workspace: id, idleSince: new Date(decision.idleSinceMs).toISOString() },
          "workspace stopped: idle",
        );
      } catch (e) {
        this.d.log.error({ workspace: id, err: (e as Error).message }, "could not stop the idle workspace");
      }
    }
  }

  /** The Backups shell's view of a workspace's backup: its tree, its home, their secrets. */
  private async nodeBackup(d: WorkspaceDeclaration, spec: WorkspaceSpec) {
    const b = d.backup;
    const creds = unsealBackupCredentials(d, this.d.nodePrivateKey);
    if (!b || !creds) return undefined;
    const ex = this.executor();
    const tree = join(ex.dir(d.workspaceId), "repo");
    const home = this.homes.get(d.workspaceId) ?? (await ex.homeFolder(spec));
    this.homes.set(d.workspaceId, home);
    return {
      nb: workspaceNodeBackup(b, { tree, home, meta: metaFolder(ex.dir(d.workspaceId)) }),
      secrets: backupSecrets(creds),
      home,
    };
  }

  /**
   * A node without the workspace's tree (a replacement) restores tree, home and the agent's notes
   * from the newest snapshots before its first start. A repository that cannot be read fails the
   * bring-up: nothing is cloned over a state that is only unreachable for now.
   */
  private async restoreFirstStart(d: WorkspaceDeclaration, spec: WorkspaceSpec): Promise<void> {
    const ex = this.executor();
    const id = d.workspaceId;
    if (!this.d.backups || !d.backup?.restoreOnFirstStart || existsSync(join(ex.dir(id), "repo", ".git")))
      return;
    mkdirSync(ex.dir(id), { recursive: true, mode: 0o700 });
    const b = await this.nodeBackup(d, spec);
    if (!b) return;
    const report = await this.d.backups.restoreFirstStart(id, b.nb, b.secrets);
    const failed = report.volumes.filter((v) => v.action === "failed");
    if (failed.length > 0) {
      const why = failed.map((v) => `${v.volume}: ${v.detail}`).join("; ");
      await this.reporter()({
        formatVersion: 1,
        workspaceId: id,
        nodeId: this.d.nodeId,
        generation: d.generation,
        state: "failed",
        push: "none",
        phases: [],
        error: `the workspace's backup could not be restored (${why}); nothing was cloned over it: fix the backup target, then publish the workspace again`,
        updatedAt: new Date().toISOString(),
      });
      throw new Error(`restore failed: ${why}`);
    }
    if (report.volumes.some((v) => v.action === "restored")) ex.adoptRestoredTree(spec);
    const restored = (series: string) =>
      report.volumes.some((v) => v.volume === series && v.action === "restored");
    if (restored(HOME_SERIES)) restoreFolderRoot(ex.dir(id), "home", b.home);
    if (restored(TREE_SERIES)) restoreFolderRoot(ex.dir(id), "tree", join(ex.dir(id), "repo"));
    this.d.log.info({ workspace: id, restore: report.volumes }, "workspace state restored from its backup");
  }

  /**
   * A backup in the background (`now`, or what the schedule says is due), one at a time: a `now`
   * asked while another runs follows it; a scheduled one is skipped then (the next pass asks again).
   */
  private backUp(id: string, d: WorkspaceDeclaration, when: "now" | "scheduled"): void {
    const backups = this.d.backups;
    const before = this.backingUp.get(id);
    if (!backups || (before && when === "scheduled") || this.inFlight.has(id) || this.waking.has(id)) return;
    const ex = this.executor();
    if (!existsSync(join(ex.dir(id), "repo", ".git"))) return;
    const job: Promise<void> = (before ?? Promise.resolve())
      .then(async () => {
        const b = await this.nodeBackup(d, this.spec(d));
        if (!b) return;
        noteFolderRoot(ex.dir(id), "home", b.home);
        noteFolderRoot(ex.dir(id), "tree", join(ex.dir(id), "repo"));
        let ran = true;
        if (when === "now") await backups.backupNow(id, b.nb, b.secrets);
        else ran = await backups.tick(id, b.nb, b.secrets);
        if (ran) {
          const status = backups.status(id);
          if (status) await ex.patchStatus(id, { backup: status });
        }
      })
      .catch((e) => this.d.log.error({ workspace: id, err: (e as Error).message }, "workspace backup failed"))
      .finally(() => {
        if (this.backingUp.get(id) === job) this.backingUp.delete(id);
      });
    this.backingUp.set(id, job);
  }

  /**
   * An operator's switch (`berth workspace switch`): the branch fetched now (its commit's image
   * built first when the devcontainer changed), then the tree moved as `berth-agent workspace
   * switch` has the next pass do; waits for the outcome and says it. A `branch` other than the
   * declared one is refused: which branch a workspace follows is the stack's (signed) decision.
   */
  async switchAsked(id: string, branch: string | undefined, say: (line: string) => void): Promise<number> {
    const d = await this.declaration(id);
    if (!d) throw new Error(`workspace ${id} is no longer declared for this node`);
    if (branch !== undefined && branch !== d.branch) {
      say(
        `workspace ${id} follows branch ${d.branch}, as the stack declares; it does not switch to ${branch} (set its branch in berth:workspaces and run pulumi up)`,
      );
      return 1;
    }
    // What runs on the workspace finishes first: a bring-up, a wake or switch, a fetch.
    await this.inFlight.get(id)?.catch(() => undefined);
    await this.waking.get(id)?.catch(() => undefined);
    await this.following.get(id);
    const ex = this.executor();
    const s = ex.status(id);
    if (!(s?.state === "running" || (s?.state === "stopped" && s.stopped))) {
      say(
        `workspace ${id} is ${s?.state ?? "not on this node"}${s?.error ? ` (${s.error})` : ""}: nothing to switch`,
      );
      return 1;
    }
    say(`fetching branch ${d.branch} of ${d.repositoryName}`);
    this.lastFetch.set(id, Date.now());
    const fetch = this.followOnce(id, d).finally(() => this.following.delete(id));
    this.following.set(id, fetch);
    await fetch;
    const f = ex.status(id)?.follow;
    const short = (c: string | undefined) => (c ?? "?").slice(0, 12);
    if (!f || f.state === "current") {
      say(`workspace ${id} is at branch ${d.branch}'s newest commit ${short(f?.commit ?? s.commit)}`);
      return 0;
    }
    if (f.state !== "ready" && f.state !== "held") {
      say(`branch ${d.branch} at ${short(f.commit)} is ${f.state}${f.reason ? `: ${f.reason}` : ""}`);
      return 1;
    }
    await this.busy(id, this.switchBranch(id, d, "asked"));
    const after = ex.status(id);
    if (after?.follow?.state === "current" && after.commit === f.commit) {
      say(
        `workspace ${id} switched to ${short(f.commit)} on branch ${d.branch}${f.cacheKey && f.cacheKey !== s.cacheKey ? " (a new image, the same tree and home)" : ""}`,
      );
      return 0;
    }
    say(`the switch to ${short(f.commit)} is held${after?.follow?.reason ? `: ${after.follow.reason}` : ""}`);
    return 1;
  }

  /** The workspace's backup and what it needs, or why it has none. */
  private async backupOf(id: string) {
    const d = await this.declaration(id);
    if (!d) throw new Error(`workspace ${id} is no longer declared for this node`);
    if (!d.backup || !this.d.backups)
      throw new Error(
        `workspace ${id} declares no backup: it has no snapshots (declare backup in the stack)`,
      );
    const b = await this.nodeBackup(d, this.spec(d));
    if (!b) throw new Error(`workspace ${id}'s backup credentials cannot be unsealed on this node`);
    return { d, b, backups: this.d.backups };
  }

  /** The workspace's snapshots, grouped per backup (`berth workspace snapshots`). */
  async snapshots(id: string): Promise<WorkspaceSnapshot[]> {
    const { b, backups } = await this.backupOf(id);
    return snapshotSets(await backups.snapshots(id, b.nb, b.secrets));
  }

  /**
   * An operator's restore of a snapshot (operator-restore.ts: the current state backed up first),
   * while the passes leave the workspace alone; after a wait for a bring-up, a wake or a backup
   * under way. `say` gets each line for the operator; resolves with the exit code.
   */
  async restore(id: string, snapshot: string, say: (line: string) => void): Promise<number> {
    await this.inFlight.get(id);
    await this.waking.get(id)?.catch(() => undefined);
    await this.backingUp.get(id);
    const { b, backups } = await this.backupOf(id);
    const ex = this.executor();
    let code = 1;
    await this.busy(
      id,
      (async () => {
        code = await operatorRestore(
          {
            id,
            ex,
            backups,
            nb: b.nb,
            secrets: b.secrets,
            home: b.home,
            noteRoots: () => {
              noteFolderRoot(ex.dir(id), "home", b.home);
              noteFolderRoot(ex.dir(id), "tree", join(ex.dir(id), "repo"));
            },
            say,
          },
          snapshot,
        );
        this.activity.forget(id);
        const status = backups.status(id);
        if (status) await ex.patchStatus(id, { backup: status });
      })(),
    );
    return code;
  }

  /** An access session into a workspace began (it counts as activity while it lasts). */
  sessionStarted(id: string): void {
    this.activity.sessionStarted(id);
  }

  sessionEnded(id: string): void {
    this.activity.sessionEnded(id);
  }

  /**
   * Before an access: a workspace stopped for idleness starts again (its container as it was),
   * and the access waits for it, bounded by wakeTimeoutSeconds. Anything else is left alone.
   */
  async wake(id: string): Promise<void> {
    const pending = this.waking.get(id);
    if (pending) return pending;
    const ex = this.executor();
    const s = ex.status(id);
    if (s?.state !== "stopped" || !s.stopped) return;
    const limit = (this.d.wakeTimeoutSeconds ?? 600) * 1000;
    // Marked busy at once: a second access waits for this wake rather than starting another.
    return this.busy(
      id,
      (async () => {
        const d = await this.declaration(id);
        if (!d) throw new Error(`workspace ${id} is no longer declared for this node`);
        const t0 = Date.now();
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`workspace ${id} did not start within ${limit / 1000} s`)),
            limit,
          );
        });
        try {
          // A start takes the followed branch along when it is ready.
          await Promise.race([this.switchBranch(id, d, "start"), timeout]);
        } finally {
          clearTimeout(timer);
        }
        this.activity.forget(id);
        this.activity.touch(id);
        this.d.log.info({ workspace: id, seconds: (Date.now() - t0) / 1000 }, "workspace woken by an access");
      })(),
    );
  }

  /** Waits for every workspace being brought up to finish (tests, shutdown). */
  async settle(): Promise<void> {
    const all = [
      ...this.inFlight.values(),
      ...this.following.values(),
      ...this.waking.values(),
      ...this.backingUp.values(),
    ];
    await Promise.all(all.map((p) => p.catch(() => undefined)));
  }
}
