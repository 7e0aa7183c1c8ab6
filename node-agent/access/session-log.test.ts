// The session record's bounds and writes: refusals (which anyone who reaches the node can cause)
// never push a session out, are saved at most once a REFUSALS_SAVE_MS, and the channel gets one
// write at a time, the newest state, however many changes came while one was in flight.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { accessStatus, MAX_REFUSALS_IN_STATUS, MAX_SESSIONS_IN_STATUS } from "../../contract/access/status";
import type { ChannelStore } from "../../contract/channel/store";
import { createLogger } from "../../lib/log";
import { REFUSALS_SAVE_MS, SessionLog } from "./session-log";

const log = createLogger("session-log-test");
log.level = "silent";
const target = { kind: "workspace", id: "dev" };

/** A channel whose writes each take `ms`, counting them and keeping the last text. */
function slowChannel(ms: number) {
  const c = { puts: 0, open: 0, maxOpen: 0, last: "" };
  const store = {
    put: async (_key: string, text: string) => {
      c.puts++;
      c.open++;
      c.maxOpen = Math.max(c.maxOpen, c.open);
      await new Promise((r) => setTimeout(r, ms));
      c.last = text;
      c.open--;
    },
  } as unknown as ChannelStore;
  return { c, store };
}

describe("SessionLog", () => {
  it("keeps every session through a flood of refusals, and at most MAX_REFUSALS_IN_STATUS refusals", async () => {
    const stateRoot = mkdtempSync(join(tmpdir(), "berth-sessions-"));
    const s = new SessionLog({ nodeId: "n1", stateRoot, log });
    const ids = [s.start({ operator: "alice", target, action: "shell" })];
    for (let i = 0; i < 1000; i++) s.refused({ target, action: "shell" }, "MALFORMED", `bad token ${i}`);
    ids.push(s.start({ operator: "alice", target, action: "exec" }));
    await s.flushed();
    const kept = s.list();
    for (const id of ids) expect(kept.map((x) => x.id)).toContain(id);
    const refusals = kept.filter((x) => x.refused);
    expect(refusals).toHaveLength(MAX_REFUSALS_IN_STATUS);
    // The newest are kept, in order.
    expect(refusals.at(-1)?.refused?.reason).toBe("bad token 999");
    expect(refusals[0]?.refused?.reason).toBe(`bad token ${1000 - MAX_REFUSALS_IN_STATUS}`);
    // What is on disk is the same record.
    const disk = accessStatus.parse(
      JSON.parse(readFileSync(join(stateRoot, "access", "sessions.json"), "utf8")),
    );
    expect(disk.sessions.map((x) => x.id)).toEqual(kept.map((x) => x.id));
  });

  it("drops the oldest session past MAX_SESSIONS_IN_STATUS, never for a refusal", () => {
    const s = new SessionLog({
      nodeId: "n1",
      stateRoot: mkdtempSync(join(tmpdir(), "berth-sessions-")),
      log,
    });
    s.refused({ target, action: "shell" }, "EXPIRED", "old");
    const first = s.start({ operator: "alice", target, action: "exec" });
    for (let i = 0; i < MAX_SESSIONS_IN_STATUS; i++) s.start({ operator: "alice", target, action: "exec" });
    const kept = s.list();
    expect(kept.map((x) => x.id)).not.toContain(first);
    expect(kept.filter((x) => !x.refused)).toHaveLength(MAX_SESSIONS_IN_STATUS);
    expect(kept.filter((x) => x.refused)).toHaveLength(1);
  });

  it("writes the channel one at a time, the newest state last, not once per change", async () => {
    const { c, store } = slowChannel(20);
    const s = new SessionLog({
      nodeId: "n1",
      stateRoot: mkdtempSync(join(tmpdir(), "berth-sessions-")),
      channel: store,
      log,
    });
    let last = "";
    for (let i = 0; i < 100; i++) last = s.start({ operator: "alice", target, action: "exec" });
    s.end(last, { exitCode: 7 });
    await s.flushed();
    expect(c.maxOpen).toBe(1);
    expect(c.puts).toBeLessThanOrEqual(3);
    const published = accessStatus.parse(JSON.parse(c.last)).sessions;
    expect(published.at(-1)).toMatchObject({ id: last, exitCode: 7 });
  });

  it("publishes refusals once after REFUSALS_SAVE_MS, however many came", async () => {
    const { c, store } = slowChannel(1);
    const s = new SessionLog({
      nodeId: "n1",
      stateRoot: mkdtempSync(join(tmpdir(), "berth-sessions-")),
      channel: store,
      log,
    });
    for (let i = 0; i < 500; i++) s.refused({ target, action: "logs" }, "MALFORMED", `bad ${i}`);
    expect(c.puts).toBe(0);
    await new Promise((r) => setTimeout(r, REFUSALS_SAVE_MS + 200));
    await s.flushed();
    expect(c.puts).toBe(1);
    expect(accessStatus.parse(JSON.parse(c.last)).sessions.at(-1)?.refused?.reason).toBe("bad 499");
  });
});
