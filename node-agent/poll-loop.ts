// The agent's loop: each pass converges every environment the channel desires for this node,
// lets the workspaces sync, tears down environments no longer desired, then runs the backups
// that are due; between passes it waits the poll interval (with jitter), or less when the
// channel says it changed.
import { channelKeys, environmentsFromKeys } from "../contract/channel/layout";
import { desiredPointer } from "../contract/channel/status";
import type { ChannelStore } from "../contract/channel/store";
import { describeError } from "../lib/errors";
import type { Logger } from "../lib/log";
import type { ChannelChanges } from "./channel-watch";

export interface PollLoopDeps {
  nodeId: string;
  channel: ChannelStore;
  log: Logger;
  converge: (env: string, desired: number) => Promise<unknown>;
  teardown: (env: string) => Promise<void>;
  /** The environments this node has state for. */
  environments: () => string[];
  /** Devcontainer workspaces' own pass. */
  workspaces?: { pollOnce(): Promise<unknown> };
  /** The scheduled backups' pass, after each poll. */
  backupTick: () => Promise<void>;
  pollIntervalSeconds: number;
  pollJitter: number;
  /** Change notifications of the channel: each one starts a pass at once. */
  changes?: ChannelChanges;
  /**
   * Before each pass: the agent's own changes (trust set, agent bundle; upgrade/agent-changes.ts).
   * True: a new agent takes over, so this pass and the loop end here.
   */
  beforePass?: () => Promise<boolean>;
  /** After each pass. */
  afterPass?: () => Promise<void>;
}

export class PollLoop {
  /** A new agent was swapped in: no more passes. */
  handingOver = false;

  constructor(private readonly d: PollLoopDeps) {}

  /** One pass: converge every desired environment, tear down the ones no longer desired. */
  async pollOnce(): Promise<void> {
    const { channel, nodeId, log } = this.d;
    if (this.handingOver || (await this.d.beforePass?.())) {
      this.handingOver = true;
      return;
    }
    const keys = await channel.list(channelKeys.environmentsPrefix(nodeId));
    const desiredEnvs = environmentsFromKeys(nodeId, keys);
    for (const env of desiredEnvs) {
      try {
        const text = await channel.get(channelKeys.desired(nodeId, env));
        if (text === undefined) continue;
        const { sequence } = desiredPointer.parse(JSON.parse(text));
        await this.d.converge(env, sequence);
      } catch (e) {
        log.error({ environment: env, err: describeError(e) }, "could not converge environment");
      }
    }
    if (this.d.workspaces) {
      try {
        await this.d.workspaces.pollOnce();
      } catch (e) {
        log.error({ err: describeError(e) }, "could not read the workspace declarations");
      }
    }
    for (const env of this.d.environments()) {
      if (desiredEnvs.includes(env)) continue;
      try {
        await this.d.teardown(env);
      } catch (e) {
        log.error({ environment: env, err: describeError(e) }, "could not tear down environment");
      }
    }
    await this.d.afterPass?.();
  }

  /**
   * Polls until `signal` aborts, waiting interval × (1 ± jitter) between passes; a change the
   * channel notifies ends the wait at once, even one that came during a pass.
   */
  async run(signal: AbortSignal): Promise<void> {
    const { pollIntervalSeconds, pollJitter } = this.d;
    let changed = false;
    let wake: (() => void) | undefined;
    const unsubscribe = this.d.changes?.(() => {
      changed = true;
      wake?.();
    });
    try {
      while (!signal.aborted && !this.handingOver) {
        changed = false;
        await this.pollOnce();
        if (this.handingOver) break;
        if (!signal.aborted) await this.d.backupTick();
        if (changed || signal.aborted) continue;
        const wait = pollIntervalSeconds * 1000 * (1 + pollJitter * (2 * Math.random() - 1));
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(t);
            signal.removeEventListener("abort", done);
            wake = undefined;
            resolve();
          };
          const t = setTimeout(done, wait);
          signal.addEventListener("abort", done);
          wake = done;
        });
      }
    } finally {
      unsubscribe?.();
    }
  }
}
