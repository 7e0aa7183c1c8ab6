// Every access session and refusal, kept in `<stateRoot>/access/sessions.json` and published in
// the node's status (`nodes/<node>/status/access/sessions.json`); each also goes to the log.
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  type AccessSessionRecord,
  type AccessStatus,
  accessStatus,
  MAX_SESSIONS_IN_STATUS,
} from "../../contract/access/status";
import { channelKeys } from "../../contract/channel/layout";
import type { ChannelStore } from "../../contract/channel/store";
import { writeFileAtomic } from "../../lib/atomic-write";
import { type Logger, scrubSecrets } from "../../lib/log";

export class SessionLog {
  private sessions: AccessSessionRecord[] = [];
  private publishing: Promise<void> = Promise.resolve();
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
    this.push({ ...r, id: randomUUID(), startedAt: now, endedAt: now, refused: { code, reason } });
    this.d.log.warn({ ...r, code, reason }, "access refused");
  }

  private push(r: AccessSessionRecord): void {
    this.sessions.push(scrubSecrets(r));
    if (this.sessions.length > MAX_SESSIONS_IN_STATUS)
      this.sessions.splice(0, this.sessions.length - MAX_SESSIONS_IN_STATUS);
    this.save();
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
    const text = `${JSON.stringify(scrubSecrets(this.status()), null, 2)}\n`;
    mkdirSync(join(this.d.stateRoot, "access"), { recursive: true, mode: 0o700 });
    writeFileAtomic(this.file, text, 0o600);
    const channel = this.d.channel;
    if (!channel) return;
    // One write at a time, the newest state last; a failed write is logged, the next one repeats it.
    this.publishing = this.publishing
      .then(() => channel.put(channelKeys.accessStatus(this.d.nodeId), text))
      .catch((e) => this.d.log.warn({ err: (e as Error).message }, "could not publish the access sessions"));
  }

  /** Resolves when the last change reached the channel. */
  flushed(): Promise<void> {
    return this.publishing;
  }
}
