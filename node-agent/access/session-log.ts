// Every access session and refusal, kept in `<stateRoot>/access/sessions.json` and published in
// the node's status (`nodes/<node>/status/access/sessions.json`); each also goes to the log.
// Refusals may come from anyone who reaches the node, so they cost it little: at most
// MAX_REFUSALS_IN_STATUS of them are kept, never in place of a session, and they reach the disk
// and the channel at most once a REFUSALS_SAVE_MS (the log has each at once). The channel gets
// one write at a time, the newest state, however many changes came while one was in flight.
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  type AccessSessionRecord,
  type AccessStatus,
  accessStatus,
  MAX_REFUSALS_IN_STATUS,
  MAX_SESSIONS_IN_STATUS,
} from "../../contract/access/status";
import { channelKeys } from "../../contract/channel/layout";
import type { ChannelStore } from "../../contract/channel/store";
import { writeFileAtomic } from "../../lib/atomic-write";
import { type Logger, scrubSecrets } from "../../lib/log";

/** How long refusals wait to be saved and published (sessions are saved at once). */
export const REFUSALS_SAVE_MS = 1000;

export class SessionLog {
  private sessions: AccessSessionRecord[] = [];
  /** The channel write in flight, and whether a newer state waits for it to end. */
  private publishing: Promise<void> | undefined;
  private stale = false;
  private saveTimer: NodeJS.Timeout | undefined;
  private readonly file: string;

  constructor(
    private readonly d: { nodeId: string; stateRoot: string; channel?: ChannelStore; log: Logger },
  ) {
    this.file = join(d.stateRoot, "access", "sessions.json");
    if (existsSync(this.file)) {
      try {
        this.sessions = accessStatus.parse(JSON.parse(readFileSync(this.file, "utf8"))).sessions;
      } catch {
        this.sessions = [];
      }
    }
  }

  list(): readonly AccessSessionRecord[] {
    return this.sessions;
  }

  /** Records a session's start; returns its id. */
  start(r: Omit<AccessSessionRecord, "id" | "startedAt">): string {
    const id = randomUUID();
    this.push({ ...r, id, startedAt: new Date().toISOString() });
    this.d.log.info({ session: id, ...r }, "access session started");
    return id;
  }

  end(id: string, outcome: { exitCode?: number; error?: string }): void {
    const s = this.sessions.find((x) => x.id === id);
    if (!s) return;
    Object.assign(s, { endedAt: new Date().toISOString() }, outcome);
    this.d.log.info({ session: id, operator: s.operator, ...outcome }, "access session ended");
    this.save();
  }

  refused(r: Omit<AccessSessionRecord, "id" | "startedAt" | "refused">, code: string, reason: string): void {
    const now = new Date().toISOString();
    this.d.log.warn({ ...r, code, reason }, "access refused");
    this.add({ ...r, id: randomUUID(), startedAt: now, endedAt: now, refused: { code, reason } });
    this.saveSoon();
  }

  private push(r: AccessSessionRecord): void {
    this.add(r);
    this.save();
  }

  /** Appends a record; the oldest of its kind goes when its kind is over its bound. */
  private add(r: AccessSessionRecord): void {
    this.sessions.push(scrubSecrets(r));
    const refusal = r.refused !== undefined;
    const bound = refusal ? MAX_REFUSALS_IN_STATUS : MAX_SESSIONS_IN_STATUS;
    if (this.sessions.filter((x) => (x.refused !== undefined) === refusal).length > bound) {
      const oldest = this.sessions.findIndex((x) => (x.refused !== undefined) === refusal);
      this.sessions.splice(oldest, 1);
    }
  }

  private saveSoon(): void {
    this.saveTimer ??= setTimeout(() => {
      this.saveTimer = undefined;
      this.save();
    }, REFUSALS_SAVE_MS).unref();
  }

  private status(): AccessStatus {
    return {
      formatVersion: 1,
      nodeId: this.d.nodeId,
      sessions: this.sessions,
      updatedAt: new Date().toISOString(),
    };
  }

  private save(): void {
    if (this.saveTimer) {
      clearTimeout(this.saveTimer);
      this.saveTimer = undefined;
    }
    mkdirSync(join(this.d.stateRoot, "access"), { recursive: true, mode: 0o700 });
    writeFileAtomic(this.file, this.text(), 0o600);
    this.publish();
  }

  private text(): string {
    return `${JSON.stringify(scrubSecrets(this.status()), null, 2)}\n`;
  }

  /**
   * One write at a time, of the newest state when it starts; changes made meanwhile go in one
   * write after it. A failed write is logged, the next change repeats it.
   */
  private publish(): void {
    const channel = this.d.channel;
    if (!channel) return;
    if (this.publishing) {
      this.stale = true;
      return;
    }
    this.stale = false;
    this.publishing = channel
      .put(channelKeys.accessStatus(this.d.nodeId), this.text())
      .catch((e) => this.d.log.warn({ err: (e as Error).message }, "could not publish the access sessions"))
      .finally(() => {
        this.publishing = undefined;
        if (this.stale) this.publish();
      });
  }

  /** Resolves when every change so far, refusals waiting to be saved included, reached the channel. */
  async flushed(): Promise<void> {
    if (this.saveTimer) this.save();
    while (this.publishing) await this.publishing;
  }
}
