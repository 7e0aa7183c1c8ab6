// The daemon's side of an apply's child process, with a fake child (an EventEmitter that sends
// what a real one would): when a child starts, how its statuses reach the one writer, and what
// a child that dies leaves for the next poll.

import type { ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FolderChannelStore } from "../../contract/channel/folder-store";
import { channelKeys } from "../../contract/channel/layout";
import { createLogger, registerSecret } from "../../lib/log";
import { ReleaseStore } from "../state/release-store";
import type { StatusReport } from "../status/publisher";
import { type ApplyChildMessage, ApplyChildren, ackedPoster, childStatusSink } from "./apply-child";
import { releaseFingerprint } from "./work";

const ENV = "shop";
const NODE = "node-1";

/** A child that sends `messages`, then exits with `code` (or is killed by `signal`). */
function fakeChild(messages: ApplyChildMessage[], end: { code: number | null; signal?: NodeJS.Signals }) {
  const c = new EventEmitter() as ChildProcess;
  Object.defineProperty(c, "pid", { value: 4242 });
  setImmediate(() => {
    for (const m of messages) c.emit("message", m);
    c.emit("close", end.code, end.signal ?? null);
  });
  return c;
}

function setup(children: (() => ChildProcess)[]) {
  const root = mkdtempSync(join(tmpdir(), "apply-child-"));
  const channel = new FolderChannelStore(join(root, "channel"));
  const stores = new Map<string, ReleaseStore>();
  const store = (env: string) => {
    const s = stores.get(env) ?? new ReleaseStore(join(root, "state"), env);
    stores.set(env, s);
    return s;
  };
  const written: string[] = [];
  const started: { env: string; desired: number; recover: boolean }[] = [];
  const log = createLogger("apply-child-test");
  log.level = "silent";
  const a = new ApplyChildren({
    nodeId: NODE,
    channel,
    store,
    log,
    start: (env, desired, recover) => {
      started.push({ env, desired, recover });
      const next = children.shift();
      if (!next) throw new Error("no more children");
      return next();
    },
    report: async (s: StatusReport) => {
      // A slow writer: the reports still land in the order sent, before converge returns.
      await new Promise((r) => setTimeout(r, 5));
      written.push(`${s.state}:${s.attemptedSequence}`);
    },
    reportBackup: async (env) => {
      written.push(`backup:${env}`);
    },
  });
  const saveApplied = (seq: number) => {
    store(ENV).save(seq, {
      payload: "{}",
      compose: "services: {}\n",
      metadata: {
        sequence: seq,
        receivedAt: new Date().toISOString(),
        project: `berth_${ENV}`,
        outcome: "applied",
      },
    });
    store(ENV).setCurrent(seq);
  };
  return { a, channel, started, written, saveApplied };
}

const report = (state: StatusReport["state"], seq: number): ApplyChildMessage => ({
  kind: "report",
  status: { environmentId: ENV, attemptedSequence: seq, state, services: [] },
});

describe("ApplyChildren", () => {
  it("starts no child when the desired release is current (an idle poll)", async () => {
    const t = setup([]);
    t.saveApplied(3);
    expect(await t.a.converge(ENV, 3)).toBeUndefined();
    expect(t.started).toEqual([]);
  });

  it("starts no child while the desired release is not in the channel yet", async () => {
    const t = setup([]);
    expect(await t.a.converge(ENV, 1)).toBeUndefined();
    expect(t.started).toEqual([]);
  });

  it("writes every report the child sent, in order, before the apply counts as over", async () => {
    const t = setup([
      () =>
        fakeChild(
          [
            report("applying", 1),
            { kind: "reportBackup", environmentId: ENV },
            report("applied", 1),
            { kind: "done", state: "applied" },
          ],
          { code: 0 },
        ),
    ]);
    await t.channel.put(channelKeys.release(NODE, ENV, 1), "release text");
    const r = await t.a.converge(ENV, 1);
    expect(t.started).toEqual([{ env: ENV, desired: 1, recover: false }]);
    expect(r?.done?.state).toBe("applied");
    expect(t.written).toEqual(["applying:1", `backup:${ENV}`, "applied:1"]);
  });

  it("does not start a child again for a release it refused, until the channel's text changes", async () => {
    const text = "a refused release";
    const t = setup([
      () =>
        fakeChild([report("rejected", 2), { kind: "done", rejected: releaseFingerprint(2, text) }], {
          code: 0,
        }),
      () => fakeChild([{ kind: "done" }], { code: 0 }),
    ]);
    await t.channel.put(channelKeys.release(NODE, ENV, 2), text);
    await t.a.converge(ENV, 2);
    await t.a.converge(ENV, 2);
    expect(t.started).toHaveLength(1);
    await t.channel.put(channelKeys.release(NODE, ENV, 2), `${text}, signed again`);
    await t.a.converge(ENV, 2);
    expect(t.started).toHaveLength(2);
  });

  it("recovers the environment in the next child after one died mid-apply, even with nothing left to apply", async () => {
    const t = setup([
      () => fakeChild([report("applying", 1)], { code: null, signal: "SIGKILL" }),
      () => fakeChild([{ kind: "done" }], { code: 0 }),
    ]);
    await t.channel.put(channelKeys.release(NODE, ENV, 1), "release text");
    const died = await t.a.converge(ENV, 1);
    expect(died?.done).toBeUndefined();
    expect(died?.signal).toBe("SIGKILL");
    expect(t.a.recovering(ENV)).toBe(true);
    // Whatever the dead child left, the state now says applied: a child still recovers it.
    t.saveApplied(1);
    await t.a.converge(ENV, 1);
    expect(t.started.map((s) => s.recover)).toEqual([false, true]);
    expect(t.a.recovering(ENV)).toBe(false);
    expect(await t.a.converge(ENV, 1)).toBeUndefined();
    expect(t.started).toHaveLength(2);
  });

  it("counts a child that said done but exited non-zero as died", async () => {
    const t = setup([() => fakeChild([{ kind: "done", state: "applied" }], { code: 1 })]);
    await t.channel.put(channelKeys.release(NODE, ENV, 1), "release text");
    expect((await t.a.converge(ENV, 1))?.done).toBeUndefined();
    expect(t.a.recovering(ENV)).toBe(true);
  });
});

describe("childStatusSink", () => {
  it("replaces the secrets the child unsealed before a status leaves it", async () => {
    registerSecret("child-only-s3cr3t");
    const sent: ApplyChildMessage[] = [];
    const sink = childStatusSink(async (m) => {
      sent.push(m);
    });
    await sink.report({
      environmentId: ENV,
      attemptedSequence: 1,
      state: "failed",
      error: "web exited: token child-only-s3cr3t refused",
      services: [],
    });
    await sink.reportBackup(ENV);
    expect(JSON.stringify(sent)).not.toContain("child-only-s3cr3t");
    expect(sent[0]).toMatchObject({
      kind: "report",
      status: { error: "web exited: token [secret] refused" },
    });
    expect(sent[1]).toEqual({ kind: "reportBackup", environmentId: ENV });
  });
});

describe("ackedPoster (the child's end)", () => {
  function channel() {
    const e = new EventEmitter();
    const sent: ApplyChildMessage[] = [];
    return {
      sent,
      daemonSays: (m: unknown) => e.emit("message", m),
      end: {
        send: (m: ApplyChildMessage, cb: (e: Error | null) => void) => {
          sent.push(m);
          cb(null);
        },
        on: (ev: "message", f: (m: unknown) => void) => e.on(ev, f),
        off: (ev: "message", f: (m: unknown) => void) => e.off(ev, f),
      },
      listeners: () => e.listenerCount("message"),
    };
  }

  it("a report resolves only once the daemon says it is written, not when it is sent", async () => {
    const c = channel();
    const p = ackedPoster(c.end);
    let resolved = false;
    const report = p.post({
      kind: "report",
      status: { environmentId: ENV, state: "applied" } as StatusReport,
    });
    void report.then(() => {
      resolved = true;
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(c.sent).toEqual([expect.objectContaining({ kind: "report", id: 1 })]);
    expect(resolved).toBe(false);
    c.daemonSays({ kind: "written", id: 2 });
    await new Promise((r) => setTimeout(r, 5));
    expect(resolved).toBe(false);
    c.daemonSays({ kind: "written", id: 1 });
    await report;
    // "done" needs no answer; close lets the IPC channel go.
    await p.post({ kind: "done", state: "applied" });
    expect(c.listeners()).toBe(1);
    p.close();
    expect(c.listeners()).toBe(0);
  });

  it("the daemon answers each numbered report after it wrote it", async () => {
    const c = new EventEmitter() as ChildProcess;
    const acks: unknown[] = [];
    Object.defineProperty(c, "pid", { value: 4343 });
    Object.defineProperty(c, "connected", { value: true });
    (c as unknown as { send: (m: unknown) => boolean }).send = (m) => acks.push(m) > 0;
    setImmediate(() => {
      c.emit("message", {
        kind: "report",
        id: 7,
        status: { environmentId: ENV, state: "applying", attemptedSequence: 2 },
      });
      c.emit("message", { kind: "done", state: "applied" });
      c.emit("close", 0, null);
    });
    const t = setup([() => c]);
    await t.channel.put(channelKeys.release(NODE, ENV, 2), "release text");
    await t.a.converge(ENV, 2);
    expect(t.written).toEqual(["applying:2"]);
    expect(acks).toEqual([{ kind: "written", id: 7 }]);
  });
});
