// What changes the agent itself on a running node, once per poll before the environments:
// the trust set (node-agent/trust/) and then the agent bundle (upgrader.ts), in that order, so a
// bundle signed by a key that the same `pulumi up` added is verified with that key. It reports
// both in `nodes/<node>/status/agent/state.json` whenever they change, signed with the node's
// status key (contract/trust/agent-status.ts), as every status it writes.

import { existsSync, readFileSync } from "node:fs";
import { channelKeys } from "../../contract/channel/layout";
import type { ChannelStore } from "../../contract/channel/store";
import { NODE_LAZY_PULL } from "../../contract/node/lazy-pull";
import {
  type AgentStatus,
  type LazyPullStatus,
  lazyPullStatusSchema,
  signAgentStatus,
} from "../../contract/trust";
import { describeError } from "../../lib/errors";
import { type Logger, scrubSecrets } from "../../lib/log";
import type { AgentConfig } from "../config";
import { TrustStore } from "../trust/trust-store";
import { AGENT_VERSION } from "../version";
import { handOver, restartMode } from "./handover";
import { writeAgentPid } from "./record";
import { type Staged, Upgrader } from "./upgrader";

export interface AgentChangesDeps {
  config: AgentConfig;
  channel: ChannelStore;
  log: Logger;
  /** The node's Ed25519 status key (its private half): the agent's status is signed with it. */
  statusPrivateKey: string;
  /** Shared with the workspaces' verifier; made here when not given. */
  trust?: TrustStore;
  /**
   * The agent's config file and the bundle it runs: both needed to hand over to a new agent.
   * Without them (an agent inside a test process) upgrades are off.
   */
  configFile?: string;
  bundlePath?: string;
  runningVersion?: string;
  /**
   * The stargz installer's outcome file (a cloud workspace node's lazy pulling), reported in the
   * status when it is there; default NODE_LAZY_PULL.outcome on a node with workspaces.
   */
  lazyPullFile?: string;
}

export class AgentChanges {
  readonly trust: TrustStore;
  readonly upgrader: Upgrader | undefined;
  private reported: string | undefined;
  private reportedAt = 0;
  private confirmed = false;
  /** Set when a new agent was swapped in: the loop stops and the caller hands over. */
  staged: Staged | undefined;

  constructor(private readonly d: AgentChangesDeps) {
    this.trust =
      d.trust ??
      new TrustStore({ stateRoot: d.config.stateRoot, config: d.config, channel: d.channel, log: d.log });
    const bundlePath = d.config.upgrade.bundlePath ?? d.bundlePath;
    this.upgrader =
      bundlePath && d.configFile
        ? new Upgrader({
            config: d.config,
            channel: d.channel,
            trusted: this.trust.keys,
            log: d.log,
            runningVersion: d.runningVersion ?? AGENT_VERSION,
            bundlePath,
          })
        : undefined;
  }

  /** The agent process that runs now, for whoever stops or watches it. */
  markRunning(): void {
    if (this.upgrader) writeAgentPid(this.d.config.stateRoot, process.pid);
  }

  /**
   * Before a pass: the trust set, then the bundle. An agent on trial has reported once it read
   * the channel and wrote its status: it confirms then, before any apply (which may take long).
   * True when the agent must hand over now.
   */
  async beforePass(): Promise<boolean> {
    let channelRead = true;
    try {
      await this.trust.refresh();
    } catch (e) {
      channelRead = false;
      this.d.log.error({ err: describeError(e) }, "could not read the trust set");
    }
    if (this.upgrader) {
      try {
        this.staged = await this.upgrader.check();
      } catch (e) {
        this.d.log.error({ err: describeError(e) }, "could not check for a new agent");
      }
    }
    const wrote = await this.report();
    if (channelRead && wrote && !this.confirmed && this.upgrader) {
      this.confirmed = true;
      if (this.upgrader.confirm()) await this.report();
    }
    return this.staged !== undefined;
  }

  /** After a pass: the agent's status, when it changed. */
  async afterPass(): Promise<void> {
    await this.report();
  }

  /** Starts the watchdog and the new agent (or leaves that to systemd); the caller then exits. */
  handOver(): void {
    if (!this.staged || !this.d.configFile) return;
    const mode = restartMode(this.d.config.upgrade.restart);
    const r = handOver(this.staged, {
      configFile: this.d.configFile,
      stateRoot: this.d.config.stateRoot,
      mode,
    });
    this.d.log.info({ ...r, mode, version: this.staged.version }, "handed over to the new agent");
  }

  status(): AgentStatus {
    const upgrade = this.upgrader?.status();
    const lazyPull = this.lazyPull();
    return {
      formatVersion: 1,
      nodeId: this.d.config.nodeId,
      agentVersion: this.d.runningVersion ?? AGENT_VERSION,
      updatedAt: new Date().toISOString(),
      trust: this.trust.status(),
      ...(upgrade ? { upgrade } : {}),
      ...(lazyPull ? { lazyPull } : {}),
    };
  }

  private lazyPullRead: { status?: LazyPullStatus } | undefined;

  /** The first boot's word on lazy pulling (written before the agent first starts; read once). */
  private lazyPull(): LazyPullStatus | undefined {
    if (this.lazyPullRead) return this.lazyPullRead.status;
    const file = this.d.lazyPullFile ?? (this.d.config.workspaces ? NODE_LAZY_PULL.outcome : undefined);
    this.lazyPullRead = {};
    if (!file || !existsSync(file)) return undefined;
    let status: LazyPullStatus;
    try {
      status = lazyPullStatusSchema.parse(JSON.parse(readFileSync(file, "utf8")));
    } catch (e) {
      status = { lazyPull: "off", reason: `${file} is unreadable: ${describeError(e)}` };
    }
    this.lazyPullRead = { status };
    return status;
  }

  /**
   * Writes the agent's status when something in it changed, and at least every heartbeatSeconds
   * (so one a channel writer replaced is put right); false when it could not.
   */
  async report(): Promise<boolean> {
    const s = this.status();
    const fingerprint = JSON.stringify({ ...s, updatedAt: "" });
    if (fingerprint === this.reported && Date.now() - this.reportedAt < this.d.config.heartbeatSeconds * 1000)
      return true;
    try {
      await this.d.channel.put(
        channelKeys.agentStatus(this.d.config.nodeId),
        signAgentStatus(scrubSecrets(s) as AgentStatus, this.d.statusPrivateKey),
      );
      this.reported = fingerprint;
      this.reportedAt = Date.now();
      return true;
    } catch (e) {
      this.d.log.warn({ err: describeError(e) }, "could not write the agent's status");
      return false;
    }
  }
}
