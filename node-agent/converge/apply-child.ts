// The daemon's applies, each in a child process of its own (`berth-agent apply-child ENV SEQ`,
// node-agent/cli/main.ts). The daemon never runs an apply's code: its heap keeps none of the
// apply's compiled code and garbage, and a crash of an apply (a bug, the kernel's OOM killer)
// leaves the daemon polling, heartbeating and serving the access endpoint.
//
// - Only when there is work: the node's own state says so first (converge/work.ts); a release
//   the child refused is remembered by its fingerprint, as the Converger does, and not tried again.
// - One status writer: the child sends its reports over the IPC channel and the daemon's
//   StatusPublisher writes them, in order; converge() returns only after the last is written.
// - One apply at a time: the poll loop awaits each; the release store's apply.lock still keeps
//   an operator's `berth-agent apply` from running beside it.
// - A child that dies without saying it finished: the environment is recovered (stray containers,
//   the proxy re-pointed: converge/recovery.ts) by the next child, before it resumes the apply,
//   as a restarted agent does.
import type { ChildProcess } from "node:child_process";
import { channelKeys } from "../../contract/channel/layout";
import type { ChannelStore } from "../../contract/channel/store";
import { describeError } from "../../lib/errors";
import { type Logger, scrubSecrets } from "../../lib/log";
import type { ReleaseStore } from "../state/release-store";
import type { StatusReport } from "../status/publisher";
import { convergeWork, releaseFingerprint } from "./work";

/** The command the daemon starts an apply's child with. */
export const APPLY_CHILD_COMMAND = "apply-child";

/** What an apply's child sends its daemon (`id`: the daemon says when that one is written). */
export type ApplyChildMessage =
  | { kind: "report"; status: StatusReport; id?: number }
  | { kind: "reportBackup"; environmentId: string; id?: number }
  | { kind: "done"; state?: string; rejected?: string };

/** What the daemon answers: the report `id` is in the channel (or could not be written). */
export interface ApplyDaemonMessage {
  kind: "written";
  id: number;
}

/** The child's end of its IPC channel (the process object in a real child). */
export interface ChildChannel {
  send(m: ApplyChildMessage, callback: (e: Error | null) => void): void;
  on(event: "message", f: (m: unknown) => void): void;
  off(event: "message", f: (m: unknown) => void): void;
}

/**
 * The child's `post`: a report resolves only once the daemon says it is written, as an apply in
 * the daemon's own process awaited its status in the channel. So "applied" is in the channel
 * before the apply goes on (an upgrade reports applied, then stops the previous release): a kill
 * of the whole agent after that point leaves the status saying so, and the restarted agent, which
 * finds no work in a committed release, has nothing to repeat. `close()` after the last message
 * lets the child's IPC channel go, so the process can end.
 */
export function ackedPoster(channel: ChildChannel): {
  post(m: ApplyChildMessage): Promise<void>;
  close(): void;
} {
  let next = 0;
  const waiting = new Map<number, () => void>();
  const onMessage = (m: unknown) => {
    const w = m as Partial<ApplyDaemonMessage> | undefined;
    if (w?.kind !== "written" || typeof w.id !== "number") return;
    waiting.get(w.id)?.();
    waiting.delete(w.id);
  };
  channel.on("message", onMessage);
  return {
    post: (m) =>
      new Promise<void>((ok, fail) => {
        if (m.kind === "done") {
          channel.send(m, (e) => (e ? fail(e) : ok()));
          return;
        }
        next += 1;
        const id = next;
        waiting.set(id, ok);
        channel.send({ ...m, id }, (e) => {
          if (!e) return;
          waiting.delete(id);
          fail(e);
        });
      }),
    close: () => channel.off("message", onMessage),
  };
}

/**
 * The child's side: its statuses as messages to the daemon. Every secret the child unsealed is
 * replaced in them first: the daemon never unsealed this release, so its own scrubbing cannot
 * know the values a failing container's output may quote.
 */
export function childStatusSink(post: (m: ApplyChildMessage) => Promise<void>): {
  report(status: StatusReport): Promise<void>;
  reportBackup(env: string): Promise<void>;
} {
  return {
    report: (status) => post({ kind: "report", status: scrubSecrets(status) }),
    reportBackup: (environmentId) => post({ kind: "reportBackup", environmentId }),
  };
}

export interface ApplyChildrenDeps {
  nodeId: string;
  channel: ChannelStore;
  store: (env: string) => ReleaseStore;
  log: Logger;
  /** Starts `berth-agent apply-child ENV SEQ [--recover]` with an IPC channel. */
  start: (env: string, desired: number, recover: boolean) => ChildProcess;
  /** The daemon's status writer. */
  report: (status: StatusReport) => Promise<void>;
  reportBackup: (env: string) => Promise<void>;
}

/** How one child ended. */
export interface ApplyChildResult {
  pid: number | undefined;
  /** Its outcome, when it said it finished. */
  done?: Extract<ApplyChildMessage, { kind: "done" }>;
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class ApplyChildren {
  /** The last refused release per environment (its fingerprint). */
  private readonly rejected = new Map<string, string>();
  /** Environments whose last child died mid-apply: the next one recovers first. */
  private readonly crashed = new Set<string>();

  constructor(private readonly d: ApplyChildrenDeps) {}

  /** Whether the next apply of `env` recovers it first (its last child died). */
  recovering(env: string): boolean {
    return this.crashed.has(env);
  }

  /** Converges `env` to `desired` in a child when the node's state says there is work. */
  async converge(env: string, desired: number): Promise<ApplyChildResult | undefined> {
    const { log } = this.d;
    const store = this.d.store(env);
    const current = store.current();
    const stored = store.has(desired);
    const outcome = stored ? store.readMetadata(desired).outcome : undefined;
    const work = convergeWork({ current, desired, stored, outcome });
    const recover = this.crashed.has(env);
    if (work === "none" && !recover) return undefined;
    if (work === "fetch") {
      const text = await this.d.channel.get(channelKeys.release(this.d.nodeId, env, desired));
      if (text === undefined) {
        log.warn({ environment: env, sequence: desired }, "desired release not in the channel yet");
        return undefined;
      }
      if (this.rejected.get(env) === releaseFingerprint(desired, text)) return undefined;
    }
    const r = await this.run(env, desired, recover);
    if (r.done) {
      this.crashed.delete(env);
      if (r.done.rejected) this.rejected.set(env, r.done.rejected);
      else this.rejected.delete(env);
    } else {
      this.crashed.add(env);
      log.error(
        { environment: env, sequence: desired, pid: r.pid, code: r.code, signal: r.signal },
        "the apply's process ended before it finished: the next poll recovers the environment and applies again",
      );
    }
    return r;
  }

  private run(env: string, desired: number, recover: boolean): Promise<ApplyChildResult> {
    const { log } = this.d;
    let child: ChildProcess;
    try {
      child = this.d.start(env, desired, recover);
    } catch (e) {
      log.error({ environment: env, err: describeError(e) }, "could not start the apply's process");
      return Promise.resolve({ pid: undefined, code: null, signal: null });
    }
    log.info(
      { environment: env, sequence: desired, pid: child.pid, ...(recover ? { recover: true } : {}) },
      "applying in a child process",
    );
    let written = Promise.resolve();
    let done: ApplyChildResult["done"];
    child.on("message", (m: ApplyChildMessage) => {
      if (m?.kind === "done") {
        done = m;
        return;
      }
      // The reports are written in the order the child sent them, one at a time.
      written = written.then(async () => {
        try {
          if (m?.kind === "report") await this.d.report(m.status);
          else if (m?.kind === "reportBackup") await this.d.reportBackup(m.environmentId);
        } catch (e) {
          log.error({ environment: env, err: describeError(e) }, "could not write the apply's status");
        }
        // The child waits for this before it goes on (ackedPoster).
        if (typeof m?.id === "number" && child.connected) {
          const ack: ApplyDaemonMessage = { kind: "written", id: m.id };
          try {
            child.send(ack);
          } catch {
            // The child is gone: nothing waits for the answer.
          }
        }
      });
    });
    return new Promise((resolve) => {
      let ended = false;
      const end = (code: number | null, signal: NodeJS.Signals | null) => {
        if (ended) return;
        ended = true;
        // Every report the child sent is written before the apply counts as over.
        void written.then(() =>
          resolve({ pid: child.pid, code, signal, ...(done && code === 0 ? { done } : {}) }),
        );
      };
      child.once("error", (e) => {
        log.error({ environment: env, err: describeError(e) }, "could not start the apply's process");
        end(null, null);
      });
      // "close": the process ended and its IPC channel is drained (every message delivered).
      child.once("close", end);
    });
  }
}
