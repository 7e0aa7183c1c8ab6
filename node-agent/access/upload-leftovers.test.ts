// The bookkeeping of uploads that will not finish, with a clean that records what it was asked
// (the relay's clean itself is in splice-relay.test.ts; the real agent in
// test/system/access-cp-attacks.test.ts).
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createLogger } from "../../lib/log";
import { addSpan, holdsUpTo, STALE_LEFTOVER_MS, UploadLeftovers, type UploadPlace } from "./upload-leftovers";

const dir = mkdtempSync(join(tmpdir(), "berth-leftovers-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const place = (id = "a", over: Partial<UploadPlace> = {}): UploadPlace => ({
  workspace: "ws",
  dir: "/w",
  partial: `.berth-upload-${id.repeat(32)}`,
  user: { user: "dev", uid: 1000, gid: 1000, groups: [1000] },
  ...over,
});
const P = 100;
const part = (i: number, total = 3 * P) => ({ offset: i * P, size: Math.min(P, total - i * P), total });

let journalDir = "";
let cleaned: { place: UploadPlace; before: number }[] = [];
let failClean = false;
const make = (abandonMs = 1000) =>
  new UploadLeftovers({
    journalDir,
    abandonMs,
    clean: async (p, before) => {
      if (failClean) throw new Error("workspace ws has no running container on this node");
      cleaned.push({ place: p, before });
      return [p.partial];
    },
    log,
  });
const log = createLogger("test");
log.level = "silent";
const records = () => readdirSync(journalDir);
const settle = async () => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
  await new Promise((r) => setImmediate(r));
};

beforeEach(() => {
  journalDir = mkdtempSync(join(dir, "journal-"));
  cleaned = [];
  failClean = false;
});
afterEach(() => vi.useRealTimers());

describe("spans", () => {
  it("merges parts that landed in any order and says whether they hold every byte before the last", () => {
    let s = addSpan([], 100, 200);
    expect(holdsUpTo(s, 200)).toBe(false);
    s = addSpan(s, 300, 400);
    s = addSpan(s, 0, 100);
    expect(s).toEqual([
      [0, 200],
      [300, 400],
    ]);
    expect(holdsUpTo(s, 300)).toBe(false);
    expect(holdsUpTo(addSpan(s, 200, 300), 400)).toBe(true);
    expect(holdsUpTo([], 0)).toBe(true);
  });
});

describe("uploads that will not finish", () => {
  it("forgets a whole upload: no clean, no record left", async () => {
    const u = make();
    for (const i of [1, 0]) expect(await u.begin(place(), part(i))).toBeUndefined();
    u.end(place(), part(1), true);
    u.end(place(), part(0), true);
    expect(await u.begin(place(), part(2))).toBeUndefined();
    u.end(place(), part(2), true);
    await vi.waitFor(() => expect(records()).toEqual([]));
    expect(cleaned).toEqual([]);
  });

  it("removes the file of an upload no part came for, once none is being written, and only then", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    const u = make(1000);
    await u.begin(place(), part(0));
    await u.begin(place(), part(1));
    expect(records()).toHaveLength(1);
    u.end(place(), part(0), true);
    // The other part is still being written, however long it takes.
    await vi.advanceTimersByTimeAsync(5000);
    expect(cleaned).toEqual([]);
    u.end(place(), part(1), true);
    await vi.advanceTimersByTimeAsync(999);
    expect(cleaned).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    await settle();
    expect(cleaned.map((c) => c.place.partial)).toEqual([place().partial]);
    // The folder's stale leftovers go with it.
    expect(cleaned[0]?.before).toBe(Math.floor((Date.now() - STALE_LEFTOVER_MS) / 1000));
    await vi.waitFor(() => expect(records()).toEqual([]));
  });

  it("a part that comes in time keeps the upload", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    const u = make(1000);
    await u.begin(place(), part(0));
    u.end(place(), part(0), true);
    await vi.advanceTimersByTimeAsync(900);
    await u.begin(place(), part(1));
    await vi.advanceTimersByTimeAsync(5000);
    expect(cleaned).toEqual([]);
  });

  it("removes it at once when a part failed, and refuses the last part after it", async () => {
    const u = make(60_000);
    await u.begin(place(), part(0));
    await u.begin(place(), part(1));
    u.end(place(), part(0), false);
    await settle();
    expect(cleaned).toEqual([]);
    u.end(place(), part(1), true);
    await settle();
    expect(cleaned).toHaveLength(1);
    expect(await u.begin(place(), part(2))).toMatch(
      /^the upload's earlier parts did not all land on this node/,
    );
  });

  it("refuses the last part when the bytes before it did not all land here (dropped, or another agent's)", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    const u = make(1000);
    await u.begin(place(), part(0));
    u.end(place(), part(0), true);
    await vi.advanceTimersByTimeAsync(1000);
    await settle();
    // A slow client's next part after its file was removed: taken afresh, but never made whole.
    expect(await u.begin(place(), part(1))).toBeUndefined();
    u.end(place(), part(1), true);
    expect(await u.begin(place(), part(2))).toMatch(/earlier parts did not all land/);
    // A last part while another is being written, and one of an upload never seen.
    await u.begin(place("b"), part(0));
    u.end(place("b"), part(0), true);
    await u.begin(place("b"), part(1));
    expect(await u.begin(place("b"), part(2))).toMatch(/earlier parts did not all land/);
    expect(await u.begin(place("c"), part(2))).toMatch(/earlier parts did not all land/);
  });

  it("removes a file a part made after its upload ended (a client that sent a part with its last)", async () => {
    const u = make(60_000);
    await u.begin(place(), part(0));
    u.end(place(), part(0), true);
    await u.begin(place(), part(1));
    u.end(place(), part(1), true);
    expect(await u.begin(place(), part(2))).toBeUndefined();
    // A part sent again while the last one is written: it may make the file anew after the rename.
    expect(await u.begin(place(), part(1))).toBeUndefined();
    u.end(place(), part(2), true);
    await settle();
    expect(cleaned).toEqual([]);
    u.end(place(), part(1), true);
    await settle();
    expect(cleaned).toEqual([{ place: place(), before: 0 }]);
  });

  it("refuses a part that names another folder, user or size than the upload's others", async () => {
    const u = make();
    await u.begin(place(), part(0));
    const why = /names another folder, user or file size/;
    expect(await u.begin(place("a", { dir: "/etc" }), part(1))).toMatch(why);
    expect(await u.begin(place("a", { user: { user: "x", uid: 0, gid: 0, groups: [0] } }), part(1))).toMatch(
      why,
    );
    expect(await u.begin(place(), part(1, 5 * P))).toMatch(why);
  });

  it("acts on the records a killed agent left, keeping those whose workspace does not run", async () => {
    const before = make();
    await before.begin(place("d"), part(0));
    await before.begin(place("e"), part(0));
    expect(records()).toHaveLength(2);
    writeFileSync(join(journalDir, "junk.json"), '{"place":{"partial":"../../etc/passwd"}}');
    // The next agent: the records it does not hold open.
    const after = make();
    failClean = true;
    await after.sweep();
    expect(records()).toHaveLength(2);
    failClean = false;
    await after.begin(place("e"), part(1));
    await after.sweep();
    expect(cleaned.map((c) => c.place.partial)).toEqual([place("d").partial]);
    expect(cleaned[0]?.before).toBeGreaterThan(0);
    // What is left: the two records of the upload the new agent holds open (the killed agent's
    // is acted on once the new one drops it).
    expect(records().map((f) => JSON.parse(readFileSync(join(journalDir, f), "utf8")).place.partial)).toEqual(
      [place("e").partial, place("e").partial],
    );
  });
});
