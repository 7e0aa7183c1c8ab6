// Agent upgrades on a running node. At each poll the agent reads the bundle's signed manifest
// (contract/trust/bundle.ts); a newer version than it runs, signed by a key of its current trust
// set, is downloaded, checked against the manifest, started once as `node NEW version` (a bundle
// that does not even load is refused here, with its error, and nothing is swapped), then swapped
// in atomically (rename over the running file, the old one kept beside it). The caller then hands
// over (handover.ts): a watchdog from the OLD bundle holds the new agent to a deadline, and the
// new agent confirms after its first good pass. App containers and HAProxy are never touched:
// they run detached from the agent.
import { copyFileSync, existsSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { ChannelStore } from "../../contract/channel/store";
import type { TrustedKeys } from "../../contract/payload";
import {
  type AgentBundlePayload,
  checkBundleBytes,
  checkNewer,
  compareVersions,
  manifestKeyOf,
  type UpgradeStatus,
  verifyAgentManifest,
} from "../../contract/trust";
import { fsyncDir } from "../../lib/atomic-write";
import type { Logger } from "../../lib/log";
import { lastLines, run } from "../../lib/process";
import type { AgentConfig } from "../config";
import { decideTrial, newTrial } from "./decision";
import { readRecord, type UpgradeRecord, writeRecord } from "./record";

export interface UpgraderDeps {
  config: Pick<AgentConfig, "stateRoot" | "upgrade">;
  channel: ChannelStore;
  /** The node's current release keys (the trust store's live keys). */
  trusted: TrustedKeys;
  log: Logger;
  /** The version this process runs. */
  runningVersion: string;
  /** The bundle file this process runs, replaced in place. */
  bundlePath: string;
}

/** What the caller does after a swap: stop polling and start the new agent (handover.ts). */
export interface Staged {
  version: string;
  from: string;
  bundlePath: string;
  previousBundle: string;
  deadline: Date;
}

export class Upgrader {
  /** The manifest text last dealt with (installed, refused or ignored): not looked at again. */
  private seen: string | undefined;

  constructor(private readonly d: UpgraderDeps) {}

  private get record(): UpgradeRecord | undefined {
    return readRecord(this.d.config.stateRoot);
  }

  /** The last upgrade's outcome, for the agent's status. */
  status(): UpgradeStatus | undefined {
    const r = this.record;
    if (!r) return undefined;
    return {
      state: r.state,
      version: r.version,
      from: r.from,
      at: r.at,
      ...(r.reason ? { reason: r.reason } : {}),
      ...(r.sha256 ? { sha256: r.sha256 } : {}),
    };
  }

  /** The highest version this node has run: the downgrade floor. */
  private highest(): string {
    const h = this.record?.highestVersion;
    return h && compareVersions(h, this.d.runningVersion) > 0 ? h : this.d.runningVersion;
  }

  private refuse(payload: Pick<AgentBundlePayload, "version"> & { sha256?: string }, reason: string): void {
    const r = this.record;
    this.d.log.warn({ version: payload.version, reason }, "agent bundle refused");
    writeRecord(this.d.config.stateRoot, {
      state: "refused",
      version: payload.version,
      from: this.d.runningVersion,
      at: new Date().toISOString(),
      reason,
      ...(payload.sha256 ? { sha256: payload.sha256 } : {}),
      highestVersion: this.highest(),
      failed: [...(r?.failed ?? []), ...(payload.sha256 ? [payload.sha256] : [])].slice(-20),
    });
  }

  /**
   * Looks at the channel's bundle manifest. Returns what was swapped in when there is a new agent
   * to hand over to; undefined otherwise (nothing new, or refused: the reason is in the record).
   */
  async check(): Promise<Staged | undefined> {
    const u = this.d.config.upgrade;
    if (!u.enabled) return undefined;
    const text = await this.d.channel.get(manifestKeyOf(u.bundleKey));
    if (text === undefined || text === this.seen) return undefined;
    this.seen = text;
    let payload: AgentBundlePayload;
    try {
      payload = verifyAgentManifest(text, this.d.trusted);
    } catch (e) {
      this.refuse({ version: "unknown" }, (e as Error).message);
      return undefined;
    }
    // The bundle this agent runs (or one it ran before an upgrade): nothing to do, nothing to say.
    if (compareVersions(payload.version, this.d.runningVersion) === 0) return undefined;
    if (this.record?.failed.includes(payload.sha256)) return undefined; // refused before, reported
    try {
      checkNewer(payload, this.d.runningVersion, this.highest());
    } catch (e) {
      this.refuse(payload, (e as Error).message);
      return undefined;
    }
    const body = await this.d.channel.get(payload.key);
    if (body === undefined) {
      this.seen = undefined; // the bundle is not there yet: look again next poll
      return undefined;
    }
    const bytes = Buffer.from(body, "utf8");
    try {
      checkBundleBytes(payload, bytes);
    } catch (e) {
      this.refuse(payload, (e as Error).message);
      return undefined;
    }
    return this.install(payload, bytes);
  }

  private async install(payload: AgentBundlePayload, bytes: Buffer): Promise<Staged | undefined> {
    const bundlePath = this.d.bundlePath;
    const staged = `${bundlePath}.new`;
    const previousBundle = `${bundlePath}.prev`;
    writeFileSync(staged, bytes, { mode: 0o755 });
    let probe: Awaited<ReturnType<typeof run>>;
    try {
      probe = await run(process.execPath, [staged, "version"], {
        allowFailure: true,
        timeoutMs: this.d.config.upgrade.selfTestSeconds * 1000,
      });
    } catch (e) {
      rmSync(staged, { force: true });
      this.refuse(payload, `BAD_BUNDLE: agent ${payload.version} was not installed: ${(e as Error).message}`);
      return undefined;
    }
    const printed = probe.stdout.trim();
    if (probe.exitCode !== 0 || printed !== payload.version) {
      rmSync(staged, { force: true });
      const why =
        probe.exitCode !== 0
          ? `it does not start (\`berth-agent version\` exited ${probe.exitCode}: ${lastLines(probe.stderr || probe.stdout, 3).trim()})`
          : `it says it is ${JSON.stringify(printed)}, its manifest ${payload.version}`;
      this.refuse(payload, `BAD_BUNDLE: agent ${payload.version} was not installed: ${why}`);
      return undefined;
    }
    // Keep the running bundle to go back to, then swap: one rename, so the file is always whole.
    if (existsSync(bundlePath)) copyFileSync(bundlePath, previousBundle);
    renameSync(staged, bundlePath);
    fsyncDir(dirname(bundlePath));
    const deadline = new Date(Date.now() + this.d.config.upgrade.reportWithinSeconds * 1000);
    newTrial(this.d.config.stateRoot);
    writeRecord(this.d.config.stateRoot, {
      state: "trial",
      version: payload.version,
      from: this.d.runningVersion,
      at: new Date().toISOString(),
      deadline: deadline.toISOString(),
      bundlePath,
      previousBundle,
      sha256: payload.sha256,
      highestVersion: this.highest(),
      failed: this.record?.failed ?? [],
    });
    this.d.log.info(
      { version: payload.version, from: this.d.runningVersion, deadline: deadline.toISOString() },
      "agent bundle installed; handing over to the new agent",
    );
    return { version: payload.version, from: this.d.runningVersion, bundlePath, previousBundle, deadline };
  }

  /**
   * Called by an agent after its first good pass: when it is the one on trial, the upgrade is
   * done (unless the watchdog decided first; then this agent is being stopped anyway).
   */
  confirm(): boolean {
    const r = this.record;
    if (r?.state !== "trial" || r.version !== this.d.runningVersion) return false;
    if (!decideTrial(this.d.config.stateRoot)) return false;
    writeRecord(this.d.config.stateRoot, {
      ...r,
      state: "installed",
      at: new Date().toISOString(),
      highestVersion: r.version,
    });
    this.d.log.info({ version: r.version, from: r.from }, "agent upgrade done");
    return true;
  }

  /** The new agent could not run: its reason, for the watchdog to report. */
  noteTrialFailure(reason: string): void {
    const r = this.record;
    if (r?.state === "trial" && r.version === this.d.runningVersion && !r.reason)
      writeRecord(this.d.config.stateRoot, { ...r, reason });
  }
}
