// The node's trust: the keys it accepts releases, bundles and workspaces from, kept in
// `<stateRoot>/trust/state.json` with the generation floor. Each poll reads the channel's trust
// set (`agent/trust-set.json`) and accepts it only as contract/trust says; a refused or missing
// one changes nothing. `keys` is a live TrustedKeys: every verification after an accepted trust
// set uses the new keys, without a restart.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { channelKeys } from "../../contract/channel/layout";
import type { ChannelStore } from "../../contract/channel/store";
import { type KeyInput, keyIdOf, TrustedKeys } from "../../contract/payload";
import {
  acceptTrustSet,
  initialTrustState,
  type TrustState,
  type TrustStatus,
  trustedReleaseKeys,
  trustStateSchema,
} from "../../contract/trust";
import { writeFileAtomic } from "../../lib/atomic-write";
import type { Logger } from "../../lib/log";

/** A TrustedKeys whose keys are those of the store's current state (verifyRelease takes it as is). */
class LiveTrustedKeys extends TrustedKeys {
  constructor(private readonly current: () => TrustedKeys) {
    super([] as KeyInput[]);
  }
  override get(keyId: string) {
    return this.current().get(keyId);
  }
  override get ids(): string[] {
    return this.current().ids;
  }
  override get size(): number {
    return this.current().size;
  }
}

export interface TrustStoreDeps {
  stateRoot: string;
  /** The agent config's keys: the state before any trust set was accepted. */
  config: { trustRoots: string[]; trustedKeys: string[] };
  channel: ChannelStore;
  log: Logger;
  now?: () => Date;
}

export class TrustStore {
  private state: TrustState;
  private releaseKeys: TrustedKeys;
  private refused: TrustStatus["refused"];
  /** The refused trust set's text, so a refusal is logged once, not at every poll. */
  private refusedText: string | undefined;
  readonly keys: TrustedKeys;

  constructor(private readonly d: TrustStoreDeps) {
    this.state = this.load();
    this.releaseKeys = trustedReleaseKeys(this.state);
    this.keys = new LiveTrustedKeys(() => this.releaseKeys);
  }

  get file(): string {
    return join(this.d.stateRoot, "trust", "state.json");
  }

  get generation(): number {
    return this.state.generation;
  }

  private load(): TrustState {
    const initial = initialTrustState(this.d.config);
    if (!existsSync(this.file)) return initial;
    const saved = trustStateSchema.parse(JSON.parse(readFileSync(this.file, "utf8")));
    // Revocations known to the node also apply to its config's keys (they outlive everything).
    return saved.generation > 0 ? saved : { ...initial, revoked: saved.revoked };
  }

  private save(state: TrustState): void {
    mkdirSync(join(this.d.stateRoot, "trust"), { recursive: true, mode: 0o700 });
    writeFileAtomic(this.file, `${JSON.stringify(state, null, 2)}\n`, 0o600);
  }

  /**
   * Reads the channel's trust set and accepts it when it verifies against the current state.
   * Returns true when the node's keys changed. Never throws for a bad trust set: the refusal is
   * logged and kept for the agent's status.
   */
  async refresh(): Promise<boolean> {
    const text = await this.d.channel.get(channelKeys.trustSet);
    if (text === undefined) return false; // nothing published (or removed): the current set stays
    if (text === this.refusedText) return false;
    let next: TrustState | undefined;
    try {
      next = acceptTrustSet(this.state, text, { now: this.d.now?.() ?? new Date() });
    } catch (e) {
      const reason = (e as Error).message;
      this.refused = { at: new Date().toISOString(), reason };
      this.refusedText = text;
      this.d.log.warn({ reason, generation: this.state.generation }, "trust set refused");
      return false;
    }
    if (next === undefined) return false;
    // The floor and the keys reach the disk before anything is verified with them.
    this.save(next);
    const before = this.releaseKeys.ids;
    this.state = next;
    this.releaseKeys = trustedReleaseKeys(next);
    this.refused = undefined;
    this.refusedText = undefined;
    this.d.log.info(
      { generation: next.generation, releaseKeys: this.releaseKeys.ids, before, revoked: next.revoked },
      "trust set accepted",
    );
    return true;
  }

  status(): TrustStatus {
    return {
      generation: this.state.generation,
      releaseKeyIds: this.releaseKeys.ids,
      rootKeyIds: this.state.roots.map((k) => keyIdOf(k)).sort(),
      revoked: this.state.revoked,
      ...(this.state.expiresAt ? { expiresAt: this.state.expiresAt } : {}),
      ...(this.refused ? { refused: this.refused } : {}),
    };
  }
}
