// The agent's loop: each pass converges every environment the channel desires for this node,
// tears down the ones a signed withdrawal names (its sequence above every release and
// withdrawal the node has seen), lets the workspaces sync, then runs the backups that are due;
// between passes it waits the poll interval (with jitter), or less when the channel says it
// changed. What it finds and does not act on — a desired.json gone while the environment runs,
// a withdrawal that does not verify or is not above the floor — is an anomaly in the status,
// never a teardown.
import { channelKeys, environmentObjects } from "../contract/channel/layout";
import { desiredPointer } from "../contract/channel/status";
import type { ChannelStore } from "../contract/channel/store";
import { verifyWithdrawal, type Withdrawal } from "../contract/channel/withdrawal";
import type { TrustedKeys } from "../contract/payload";
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
  /** The keys withdrawals must be signed with (the release keys). */
  trusted: TrustedKeys;
  /** The highest sequence the node accepted of an environment (releases and withdrawals). */
  floorOf: (env: string) => number;
  /** Raises that floor (a withdrawal acted on). */
  raiseFloor: (env: string, sequence: number) => void;
  /** Puts what the node did not act on into the environment's status. */
  reportAnomalies: (env: string, anomalies: string[]) => Promise<void>;
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
  /**
   * The node groups' pass (swarm/swarm-pass.ts), before the environments: the swarm is formed
   * (or a node joins it) before a release that needs it is applied.
   */
  swarm?: () => Promise<unknown>;
}

export class PollLoop {
  /** A new agent was swapped in: no more passes. */
  handingOver = false;

  constructor(private readonly d: PollLoopDeps) {}

  /** One pass: converge every desired environment, tear down the withdrawn ones. */
  async pollOnce(): Promise<void> {
    const { channel, nodeId, log } = this.d;
    if (this.handingOver || (await this.d.beforePass?.())) {
      this.handingOver = true;
      return;
    }
    if (this.d.swarm) {
      try {
        await this.d.swarm();
      } catch (e) {
        log.error({ err: describeError(e) }, "could not read the node groups' memberships");
      }
    }
    const keys = await channel.list(channelKeys.environmentsPrefix(nodeId));
    const { desired, withdrawn } = environmentObjects(nodeId, keys);
    const local = this.d.environments();
    const all = [...new Set([...desired, ...withdrawn, ...local])].sort();
    const teardowns: { env: string; withdrawal: Withdrawal }[] = [];
    for (const env of all) {
      const anomalies: string[] = [];
      try {
        const withdrawal = withdrawn.includes(env) ? await this.withdrawal(env, anomalies) : undefined;
        const pointer = desired.includes(env) ? await this.pointer(env, anomalies) : undefined;
        if (withdrawal && withdrawal.sequence > (pointer ?? 0)) {
          // The newest word is the withdrawal: acted on once, when it is above the floor.
          if (withdrawal.sequence > this.d.floorOf(env)) teardowns.push({ env, withdrawal });
          else if (local.includes(env))
            anomalies.push(
              `withdrawal.json (sequence ${withdrawal.sequence}) is not above the last sequence this node accepted (${this.d.floorOf(env)}): a replayed withdrawal, ignored`,
            );
        } else if (pointer !== undefined) {
          await this.d.converge(env, pointer);
        } else if (local.includes(env) && !desired.includes(env)) {
          anomalies.push(
            "desired.json is missing from the channel: the environment keeps running (only a signed withdrawal tears it down)",
          );
        }
      } catch (e) {
        log.error({ environment: env, err: describeError(e) }, "could not converge environment");
        anomalies.push(`the channel could not be read for this environment: ${describeError(e)}`);
      }
      if (local.includes(env) || anomalies.length > 0)
        await this.d
          .reportAnomalies(env, anomalies)
          .catch((e: unknown) =>
            log.error({ environment: env, err: describeError(e) }, "could not report the anomalies"),
          );
    }
    if (this.d.workspaces) {
      try {
        await this.d.workspaces.pollOnce();
      } catch (e) {
        log.error({ err: describeError(e) }, "could not read the workspace declarations");
      }
    }
    for (const { env, withdrawal } of teardowns) {
      try {
        if (local.includes(env)) {
          log.info(
            { environment: env, sequence: withdrawal.sequence },
            "tearing down a withdrawn environment",
          );
          await this.d.teardown(env);
        }
        this.d.raiseFloor(env, withdrawal.sequence);
      } catch (e) {
        log.error({ environment: env, err: describeError(e) }, "could not tear down environment");
      }
    }
    await this.d.afterPass?.();
  }

  /** The environment's verified withdrawal; a refused one is an anomaly. */
  private async withdrawal(env: string, anomalies: string[]): Promise<Withdrawal | undefined> {
    const text = await this.d.channel.get(channelKeys.withdrawal(this.d.nodeId, env));
    if (text === undefined) return undefined;
    const v = verifyWithdrawal(text, {
      trustedKeys: this.d.trusted,
      nodeId: this.d.nodeId,
      environmentId: env,
    });
    if (v.ok) return v.withdrawal;
    anomalies.push(`withdrawal.json is not acted on: ${v.reason}`);
    return undefined;
  }

  /** The sequence desired.json points at; an unreadable one is an anomaly. */
  private async pointer(env: string, anomalies: string[]): Promise<number | undefined> {
    const text = await this.d.channel.get(channelKeys.desired(this.d.nodeId, env));
    if (text === undefined) return undefined;
    try {
      return desiredPointer.parse(JSON.parse(text)).sequence;
    } catch {
      anomalies.push('desired.json is not {"sequence": N} with N a positive integer: ignored');
      return undefined;
    }
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
