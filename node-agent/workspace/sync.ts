// The daemon's side of workspaces: each pass reads this node's Workspace declarations from the
// channel, verifies them (signed by a trusted key, for this node), and brings up what is new or
// changed, in the background so a long build never holds the release applies of the same loop.
// A declaration gone from the channel takes its workspace down. Every status change is written
// to the channel (nodes/<node>/status/workspaces/<id>.json).
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { ChannelStore } from "../../contract/channel/store";
import type { TrustedKeys } from "../../contract/payload";
import { canonicalJson } from "../../contract/payload/canonical";
import {
  type SealedGitCredential,
  unsealGitCredential,
  unsealRegistryLogin,
  verifyWorkspace,
  type WorkspaceDeclaration,
  type WorkspaceStatus,
  workspaceKeys,
  workspacesFromKeys,
} from "../../contract/workspace/declaration";
import type { Logger } from "../../lib/log";
import { registerSecret, scrubSecrets } from "../../lib/log";
import type { WorkspaceExecutor, WorkspaceSpec } from "./executor";
import { GenerationFloors } from "./generation-floor";
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
}

export class WorkspaceSync {
  private exec?: WorkspaceExecutor;
  /** Workspaces being brought up (or pushing their cache) right now. */
  readonly inFlight = new Map<string, Promise<WorkspaceStatus>>();
  private readonly refused = new Map<string, string>();

  constructor(private readonly d: WorkspaceSyncDeps) {}

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
    return specFromDeclaration(d, login, pushLogin, git);
  }

  /** One pass; returns the ids it started bringing up. */
  async pollOnce(): Promise<string[]> {
    const keys = await this.d.channel.list(workspaceKeys.declarationsPrefix(this.d.nodeId));
    const declared = workspacesFromKeys(this.d.nodeId, keys);
    const started: string[] = [];
    for (const id of declared) {
      if (this.inFlight.has(id)) continue;
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
      const ex = this.executor();
      const current = ex.status(id);
      const upToDate =
        current?.generation === d.generation &&
        (current.state === "running" || current.state === "failed") &&
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
      const spec = this.spec(d);
      const job = ex
        .up(spec)
        .then((r) => r.background)
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
          this.d.log.info({ workspace: id }, "workspace removed (no longer declared)");
        } catch (e) {
          this.d.log.error({ workspace: id, err: (e as Error).message }, "could not remove workspace");
        }
      }
    }
    return started;
  }

  /** Waits for every workspace being brought up to finish (tests, shutdown). */
  async settle(): Promise<void> {
    await Promise.all([...this.inFlight.values()]);
  }
}
