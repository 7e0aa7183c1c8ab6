// Brings one environment to its desired release: fetch and verify the release (signature,
// node, environment, the sequence of its key, expiry, anti-rollback floor), check what it asks
// for (contract/render/node-check.ts: the isolation rules and the x-berth extras, parsed with
// their schema), store it, apply it (or finish what a crash interrupted), record and report the
// outcome. Also the operator's rollback and the teardown of a withdrawn environment. The floor
// (state/floors.ts) rises with every accepted release and outlives the teardown.

import { parse } from "yaml";
import { channelKeys } from "../../contract/channel/layout";
import type { ChannelStore } from "../../contract/channel/store";
import { type ReleasePayload, type TrustedKeys, verifyRelease } from "../../contract/payload";
import { checkRenderedRelease } from "../../contract/render/node-check";
import { stackName } from "../../contract/swarm/names";
import { checkSwarmStack } from "../../contract/swarm/node-check";
import { describeError } from "../../lib/errors";
import type { Logger } from "../../lib/log";
import { type Applier, type ApplyOutcome, projectsOf, retireOutside } from "../apply/apply";
import { removeEnvironmentNetworks } from "../apply/environment-resources";
import { releaseProject, statefulProject } from "../apply/plan";
import type { ProxyControl } from "../apply/proxy-control";
import type { BackupJobs } from "../backup/jobs";
import * as compose from "../compose/commands";
import type { DockerRunner } from "../docker";
import type { Floors } from "../state/floors";
import { type Release, releaseOf } from "../state/release";
import type { ReleaseMetadata, ReleaseStore } from "../state/release-store";
import type { StatusReport } from "../status/publisher";
import * as swarmCmd from "../swarm/commands";
import { isSwarmStack } from "../swarm/release";
import { convergeWork, releaseFingerprint } from "./work";

/** A release the node refuses to run, though it verified: what it asks for breaks the rules. */
export class NodeRulesError extends Error {
  constructor(readonly problems: string[]) {
    super(`NODE_RULES: this node does not run what the release asks for: ${problems.join("; ")}`);
    this.name = "NodeRulesError";
  }
}

export interface ConvergerDeps {
  nodeId: string;
  channel: ChannelStore;
  trusted: TrustedKeys;
  store: (env: string) => ReleaseStore;
  applier: Pick<Applier, "apply" | "resumeRollback">;
  docker: DockerRunner;
  proxy: ProxyControl & { routesOf?(env: string): { environmentId: string; host: string; path?: string }[] };
  report: (status: StatusReport) => Promise<void>;
  backups: Pick<BackupJobs, "restoreBeforeFirstApply" | "requestedRestore" | "recoverInterrupted">;
  /** Crash recovery of one environment (before a resumed rollback). */
  recover: (env: string) => Promise<void>;
  log: Logger;
  /** Releases kept per environment. */
  keepReleases: number;
  /** The anti-rollback floors, kept apart from the environments' state. */
  floors: Floors;
  /** The node's volume root: every volume's folder lies under it. */
  volumeRoot: string;
  /**
   * A swarm manager's apply of a release whose Compose text is a Swarm stack
   * (node-agent/swarm/release.ts; it re-checks the stack itself). Without it such a release is
   * refused as any file the node cannot run.
   */
  swarm?: (
    payload: ReleasePayload,
    file: string,
    /** Says what the release waits for before it deploys (the status's `waiting`). */
    waiting: (detail: string) => Promise<void>,
  ) => Promise<ApplyOutcome>;
  /**
   * Whether this node's key opens the release's sealed secrets: undefined when it does, else why
   * not. A node made anew (new keys) first finds the release sealed to its predecessor's key.
   */
  opens?: (payload: ReleasePayload) => string | undefined;
  /**
   * Points the proxy at the current release's containers' ports (Recovery.repointProxy). After a
   * rollback: the previous release's stop-first services were made again, on new host ports.
   */
  repoint?: (env: string) => Promise<void>;
}

/** A verified release whose secrets are sealed to another node key: not for this node's keys. */
export class SealedElsewhereError extends Error {
  constructor(detail: string) {
    super(
      `SEALED_TO_ANOTHER_KEY: its secrets are sealed to another key than this node's (a node made anew has new keys: the next pulumi up publishes a release sealed to them): ${detail}`,
    );
    this.name = "SealedElsewhereError";
  }
}

export class Converger {
  /** The last refused release per environment, so it is reported once, not at every poll. */
  private readonly rejected = new Map<string, string>();

  constructor(private readonly d: ConvergerDeps) {}

  /** The fingerprint of the environment's last refused release (converge/work.ts), if any. */
  rejectedFingerprint(env: string): string | undefined {
    return this.rejected.get(env);
  }

  /** Brings one environment to its desired release. */
  async converge(env: string, desired: number): Promise<ApplyOutcome | undefined> {
    const store = this.d.store(env);
    const current = store.current();
    const stored = store.has(desired);
    const meta = stored ? store.readMetadata(desired) : undefined;
    const work = convergeWork({ current, desired, stored, outcome: meta?.outcome });
    if (work === "finish") await this.finishInterrupted(env, store, desired);
    if (work === "none" || work === "finish") return undefined;
    const resuming = work === "resume"; // an apply that a crash interrupted
    // ... maybe during its rollback
    const rollingBack: ReleaseMetadata["rollingBack"] = resuming ? meta?.rollingBack : undefined;
    let text: string;
    if (resuming) {
      text = store.readPayload(desired);
    } else {
      const fetched = await this.d.channel.get(channelKeys.release(this.d.nodeId, env, desired));
      if (fetched === undefined) {
        this.d.log.warn({ environment: env, sequence: desired }, "desired release not in the channel yet");
        return undefined;
      }
      text = fetched;
    }
    const fingerprint = releaseFingerprint(desired, text);
    if (this.rejected.get(env) === fingerprint) return undefined; // refused and reported already
    let release: Release | undefined;
    let swarmPayload: ReleasePayload | undefined;
    try {
      const floor = resuming
        ? (current ?? 0)
        : Math.max(current ?? 0, store.highestSeen(), this.d.floors.get(env));
      const { payload } = verifyRelease(text, {
        trustedKeys: this.d.trusted,
        environmentId: env,
        nodeId: this.d.nodeId,
        appliedSequence: floor,
        keySequence: desired,
      });
      if (this.d.swarm && isSwarmStack(payload.compose.text)) {
        // The swarm apply checks it again before it deploys; here a violation is a rejection.
        const problems = checkSwarmStack(parse(payload.compose.text), env);
        if (problems.length > 0) throw new NodeRulesError(problems);
        swarmPayload = payload;
      } else {
        release = releaseOf(payload, text);
        const problems = checkRenderedRelease(release.document, release.extras, {
          volumeRoot: this.d.volumeRoot,
        });
        if (problems.length > 0) throw new NodeRulesError(problems);
      }
      // Before anything is stored or started (a restore, on a new node): a release this node
      // cannot open would only fail later, with advice about the backup settings.
      const sealed = resuming ? undefined : this.d.opens?.(payload);
      if (sealed !== undefined) throw new SealedElsewhereError(sealed);
    } catch (e) {
      const reason = describeError(e); // a ReleaseVerificationError starts with its code
      this.d.log.warn({ environment: env, sequence: desired, reason }, "release rejected");
      this.rejected.set(env, fingerprint);
      await this.d.report({
        environmentId: env,
        ...(current !== undefined ? { appliedSequence: current } : {}),
        attemptedSequence: desired,
        state: "rejected",
        error: `release ${desired} was rejected: ${reason}`,
        services: [],
      });
      return undefined;
    }
    if (swarmPayload) return this.convergeSwarm(env, desired, swarmPayload, text, current, resuming);
    if (release === undefined) return undefined;
    const lock = store.lock();
    try {
      // A restore cut off during its swap is settled before the apply makes a missing volume
      // folder anew (an empty one) and starts the app on it (backup/swap.ts).
      await this.d.backups.recoverInterrupted(env, release);
      if (!resuming) {
        store.save(desired, {
          payload: text,
          compose: release.payload.compose.text,
          metadata: {
            sequence: desired,
            receivedAt: new Date().toISOString(),
            project: releaseProject(env, desired),
          },
        });
        this.d.floors.raise(env, desired);
      }
      const applying = this.d.report({
        environmentId: env,
        ...(current !== undefined ? { appliedSequence: current } : {}),
        attemptedSequence: desired,
        state: "applying",
        services: [],
      });
      const backup = release.extras.backup;
      // A new node restores the volumes first; the apply readies networks, volumes and images
      // meanwhile and starts nothing until the restore has ended (a failed one is the outcome).
      // The restore starts while the "applying" status is written (a PUT on an S3 channel), not
      // after it; a failed restore reports after it.
      let restoreFailed: ApplyOutcome | undefined;
      const restoring =
        current === undefined && !rollingBack && backup?.restoreOnFirstApply && backup.volumes.length > 0
          ? this.restoreFirst(env, release, applying).then((failed) => (restoreFailed = failed))
          : undefined;
      try {
        await applying;
      } catch (e) {
        // Nothing is left running behind a failed report: the next pass starts over.
        await restoring?.catch(() => undefined);
        throw e;
      }
      let outcome: ApplyOutcome;
      if (rollingBack) {
        // Killed while rolling back: make sure the proxy serves the current release and the
        // failed one's containers are gone, then finish the rollback; never retry the release.
        await this.d.recover(env);
        outcome = await this.d.applier.resumeRollback(store, release, rollingBack);
      } else {
        outcome = await this.d.applier.apply(store, release, restoring);
        // Reported already, and not recorded as the release's outcome: the next pass tries again.
        if (restoreFailed) return restoreFailed;
      }
      if (outcome.state === "applied" && backup?.restore) {
        await outcome.retire?.(); // the restore runs with only the new release's containers
        await this.d.backups.requestedRestore(env, release);
      }
      if (outcome.state === "rolled-back" && this.d.repoint)
        await this.d
          .repoint(env)
          .catch((e) =>
            this.d.log.error(
              { environment: env, err: describeError(e) },
              "re-pointing the proxy after a rollback failed",
            ),
          );
      return await this.finish(store, env, desired, outcome);
    } finally {
      lock.release();
    }
  }

  /**
   * An apply's end, on one node or a swarm: the outcome recorded with the release (a rollback
   * mark cleared), reported with the sequence now serving, and old releases pruned.
   */
  private async finish(
    store: ReleaseStore,
    env: string,
    desired: number,
    outcome: ApplyOutcome,
  ): Promise<ApplyOutcome> {
    const { rollingBack: _done, ...meta } = store.readMetadata(desired);
    store.writeMetadata({
      ...meta,
      outcome: outcome.state,
      appliedAt: new Date().toISOString(),
      ...(outcome.error ? { error: outcome.error } : {}),
    });
    const applied = store.current();
    await this.d.report({
      environmentId: env,
      ...(applied !== undefined ? { appliedSequence: applied } : {}),
      attemptedSequence: desired,
      state: outcome.state,
      ...(outcome.error ? { error: outcome.error } : {}),
      ...(outcome.logTail ? { logTail: outcome.logTail } : {}),
      services: outcome.services,
    });
    // The previous release stops once the node has said the new one serves.
    await outcome.retire?.();
    store.prune(this.d.keepReleases);
    return outcome;
  }

  /** A Swarm stack on a manager: stored, floor raised, deployed, and reported as it converged. */
  private async convergeSwarm(
    env: string,
    desired: number,
    payload: ReleasePayload,
    text: string,
    current: number | undefined,
    resuming: boolean,
  ): Promise<ApplyOutcome> {
    const store = this.d.store(env);
    const swarm = this.d.swarm;
    if (!swarm) throw new Error("convergeSwarm without a swarm applier");
    const lock = store.lock();
    try {
      if (!resuming) {
        store.save(desired, {
          payload: text,
          compose: payload.compose.text,
          metadata: { sequence: desired, receivedAt: new Date().toISOString(), project: stackName(env) },
        });
        this.d.floors.raise(env, desired);
      }
      const applying = (waiting?: string) =>
        this.d.report({
          environmentId: env,
          ...(current !== undefined ? { appliedSequence: current } : {}),
          attemptedSequence: desired,
          state: "applying",
          services: [],
          ...(waiting ? { waiting } : {}),
        });
      await applying();
      const outcome = await swarm(payload, store.composePath(desired), applying);
      // Swarm rolls a failed update back itself: the stack runs the previous release again.
      if (outcome.state === "applied") store.setCurrent(desired);
      return await this.finish(store, env, desired, outcome);
    } finally {
      lock.release();
    }
  }

  /**
   * The restore before a first apply; when it fails, the release is reported failed (and tried
   * again next pass), and that outcome is returned.
   */
  private async restoreFirst(
    env: string,
    release: Release,
    /** The "applying" report, which the failure's report must follow. */
    applying: Promise<unknown>,
  ): Promise<ApplyOutcome | undefined> {
    const backup = release.extras.backup;
    if (!backup) return undefined;
    const failure = await this.d.backups.restoreBeforeFirstApply(env, release, backup);
    if (failure === undefined) return undefined;
    await applying.catch(() => undefined);
    const error = `release ${release.sequence} was not applied: restoring the volumes from ${backup.repository} before the first apply failed: ${failure} (fix the backup settings, or set backup.restoreOnFirstApply to false to start without the data)`;
    this.d.log.error({ environment: env, sequence: release.sequence, error }, "restore failed");
    await this.d.report({
      environmentId: env,
      attemptedSequence: release.sequence,
      state: "failed",
      error,
      services: [],
    });
    return { state: "failed", sequence: release.sequence, error, services: [] };
  }

  /**
   * The agent was killed after the release took over traffic but before it said so: stop any
   * older release still running, record the outcome and report.
   */
  private async finishInterrupted(env: string, store: ReleaseStore, seq: number): Promise<void> {
    // Every container outside the projects this release runs in (a start-first service it left
    // unchanged still runs in an older release's project).
    await retireOutside(
      (c, o) => this.d.docker(c, o ?? {}),
      this.d.log,
      env,
      projectsOf(store, seq),
      store,
      undefined,
    );
    store.writeMetadata({
      ...store.readMetadata(seq),
      outcome: "applied",
      appliedAt: new Date().toISOString(),
    });
    await this.d.report({
      environmentId: env,
      appliedSequence: seq,
      attemptedSequence: seq,
      state: "applied",
      services: [],
    });
  }

  /** An operator's rollback: applies an earlier, already verified release again. */
  async reapply(env: string, release: Release): Promise<ApplyOutcome> {
    const store = this.d.store(env);
    const lock = store.lock();
    try {
      await this.d.backups.recoverInterrupted(env, release);
      const cur = store.current();
      const outcome = await this.d.applier.apply(store, release);
      const { rollingBack: _done, ...meta } = store.readMetadata(release.sequence);
      store.writeMetadata(meta); // a failed operator rollback is over: nothing to resume
      if (outcome.state === "applied" && cur !== undefined && cur !== release.sequence) {
        store.writeMetadata({
          ...store.readMetadata(cur),
          outcome: "rolled-back",
          error: `an operator rolled back to release ${release.sequence}`,
        });
      }
      const applied = store.current();
      await this.d.report({
        environmentId: env,
        ...(applied !== undefined ? { appliedSequence: applied } : {}),
        attemptedSequence: release.sequence,
        state: outcome.state,
        ...(outcome.error ? { error: outcome.error } : {}),
        services: outcome.services,
      });
      await outcome.retire?.();
      return outcome;
    } finally {
      lock.release();
    }
  }

  /** Stops an environment that is no longer desired; its volumes and data stay. */
  async teardown(env: string): Promise<void> {
    const store = this.d.store(env);
    const current = store.current();
    const lock = store.lock();
    try {
      if (current !== undefined && isSwarmStack(store.readCompose(current))) {
        // A Swarm stack: its services, networks and the stack's own objects go with it.
        await this.d.docker(swarmCmd.stackRemove(stackName(env)), { allowFailure: true });
      } else if (current !== undefined) {
        for (const route of this.d.proxy.routesOf?.(env) ?? []) await this.d.proxy.removeRoute(route);
        await this.d.proxy.installCertificates(env, []);
        const projects = new Set([...Object.values(projectsOf(store, current)), statefulProject(env)]);
        for (const project of projects) await this.d.docker(compose.down(project), { allowFailure: true });
        await removeEnvironmentNetworks(this.d.docker, store.release(current).extras);
      }
      store.setCurrent(undefined);
    } finally {
      lock.release();
    }
    await this.d.report({ environmentId: env, state: "removed", services: [] });
    store.remove();
  }
}
