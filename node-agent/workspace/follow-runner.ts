// The follow and switch steps' runner: runs follow-plan.ts's plans through the executor's runner
// (isolated, one call per command) and reads their answers. follow.ts decides what a fetched
// commit means; the sync (sync.ts) calls these in the order it decides.
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { WorkspaceStatus } from "../../contract/workspace/declaration";
import type { RunResult } from "../../lib/process";
import type { DockerRunner } from "../docker";
import { computeCacheKey } from "./cache-key";
import { dockerArchitecture } from "./cli-output";
import { readDevcontainerConfig } from "./devcontainer-config";
import type { WorkspaceSpec } from "./executor";
import {
  type AdvanceTarget,
  advancePlan,
  advanceRefusal,
  ancestorPlan,
  type CredentialHelper,
  checkoutPlan,
  fetchPlan,
  followPaths,
  type PlannedCommand,
} from "./follow-plan";
import { isSshKey } from "./git-credentials";

/** A build of another folder than the clone, with a status file of its own (executor.ts). */
export interface BuildSource {
  repoDir: string;
  statusFile: string;
}

export interface BranchFollowerDeps {
  run: DockerRunner;
  /** The workspace's folder on the node. */
  dir: (id: string) => string;
  /** Serves the workspace's git credential (or stops serving it); its helper, if any. */
  credentialHelper: (spec: WorkspaceSpec) => Promise<CredentialHelper | undefined>;
  /** Clones nothing, builds (or pulls) `source`'s image and pushes its cache; the final status. */
  build: (spec: WorkspaceSpec, source: BuildSource) => Promise<WorkspaceStatus>;
  /** The devcontainer CLI's version (part of the cache key). */
  cliVersion: string;
  /** Time limit of one git call. */
  stepTimeoutSeconds?: number;
}

export class BranchFollower {
  constructor(private readonly d: BranchFollowerDeps) {}

  private paths(spec: WorkspaceSpec) {
    return followPaths(this.d.dir(spec.id));
  }

  private get timeoutMs(): number {
    return (this.d.stepTimeoutSeconds ?? 1800) * 1000;
  }

  private exec(spec: WorkspaceSpec, p: PlannedCommand): Promise<RunResult> {
    const c = spec.gitCredential;
    return this.d.run(p.command, {
      ...(p.git
        ? {
            env: { GIT_TERMINAL_PROMPT: "0" },
            redact: c ? [isSshKey(c) ? c.sshKey : c.password] : [],
          }
        : {}),
      timeoutMs: p.timeoutMs,
      ...(p.allowFailure ? { allowFailure: true } : {}),
    });
  }

  /** Fetches the branch into the agent's copy (with the credential helper); the fetched commit. */
  async fetchBranch(spec: WorkspaceSpec): Promise<string> {
    const { copy } = this.paths(spec);
    const initialised = existsSync(join(copy, "HEAD"));
    const helper = await this.d.credentialHelper(spec);
    const plan = fetchPlan({
      copy,
      initialised,
      repository: spec.repository,
      branch: spec.branch,
      ...(helper ? { helper } : {}),
      timeoutMs: this.timeoutMs,
    });
    let last: RunResult | undefined;
    for (const p of plan) last = await this.exec(spec, p);
    return last!.stdout.trim();
  }

  /** Whether `a` is an ancestor of `b` in the agent's copy (false when either is unknown there). */
  async isAncestor(spec: WorkspaceSpec, a: string, b: string): Promise<boolean> {
    const r = await this.exec(spec, ancestorPlan(this.paths(spec).copy, a, b, this.timeoutMs));
    return r.exitCode === 0;
  }

  /** The fetched commit's files in `<workspace dir>/next` (the agent's, never mounted). */
  async checkoutFetched(spec: WorkspaceSpec, commit: string): Promise<string> {
    const { copy, next, nextTar } = this.paths(spec);
    rmSync(next, { recursive: true, force: true });
    mkdirSync(next, { recursive: true, mode: 0o700 });
    try {
      for (const p of checkoutPlan({ copy, commit, tar: nextTar, next, timeoutMs: this.timeoutMs }))
        await this.exec(spec, p);
    } finally {
      rmSync(nextTar, { force: true });
    }
    return next;
  }

  /** The cache key of a checkout's devcontainer; undefined without one (or for Compose). */
  keyOf(spec: WorkspaceSpec, dir: string): string | undefined {
    try {
      const config = readDevcontainerConfig(dir, spec.config);
      if (!config || config.build.kind === "compose") return undefined;
      return computeCacheKey({
        repoDir: dir,
        config,
        cliVersion: this.d.cliVersion,
        architecture: dockerArchitecture(),
      }).key;
    } catch {
      return undefined;
    }
  }

  /**
   * Builds (or pulls) the image of a checkout in the background, as the executor's `build` does,
   * with a status of its own (`<workspace dir>/next.json`, not reported): the running workspace is
   * not touched.
   */
  prebuild(spec: WorkspaceSpec, source: string): Promise<WorkspaceStatus> {
    return this.d.build(spec, { repoDir: source, statusFile: this.paths(spec).nextStatus });
  }

  /**
   * Fast-forwards the working tree to `o.commit` inside the running container, as its remote user
   * (follow-plan.ts's advance). Uncommitted and untracked work stays; when the merge would touch
   * it, git refuses and the reason is returned.
   */
  async advanceTree(
    spec: WorkspaceSpec,
    o: AdvanceTarget & { base?: string },
  ): Promise<{ ok: true } | { ok: false; reason: string }> {
    const { copy, bundle } = this.paths(spec);
    try {
      const base = o.base && (await this.isAncestor(spec, o.base, o.commit)) ? o.base : undefined;
      const plan = advancePlan({
        copy,
        branch: spec.branch,
        bundle,
        inside: `/tmp/berth-follow-${process.pid}.bundle`,
        ...(base ? { base } : {}),
        target: { container: o.container, user: o.user, folder: o.folder, commit: o.commit },
        timeoutMs: this.timeoutMs,
      });
      await this.exec(spec, plan.bundle);
      await this.exec(spec, plan.copyIn);
      const r = await this.exec(spec, plan.advance);
      await this.exec(spec, plan.cleanUp);
      return r.exitCode === 0 ? { ok: true } : { ok: false, reason: advanceRefusal(r, o.commit) };
    } finally {
      rmSync(bundle, { force: true });
    }
  }
}
