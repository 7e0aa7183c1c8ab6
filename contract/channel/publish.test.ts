import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { FolderChannelStore } from "./folder-store";
import { channelKeys } from "./layout";
import { StatusTimeoutError, waitForOutcome } from "./publish";
import type { EnvironmentStatus } from "./status";
import type { ChannelStore } from "./store";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function folder(): FolderChannelStore {
  const d = mkdtempSync(join(tmpdir(), "berth-publish-"));
  dirs.push(d);
  return new FolderChannelStore(d);
}

const applied = (sequence: number): EnvironmentStatus => ({
  formatVersion: 1,
  nodeId: "node-a",
  environmentId: "demo",
  appliedSequence: sequence,
  attemptedSequence: sequence,
  state: "applied",
  services: [],
  updatedAt: new Date().toISOString(),
});

const statusKey = channelKeys.status("node-a", "demo");
const wait = (channel: ChannelStore, o: { timeoutMs: number; pollMs?: number }) =>
  waitForOutcome(channel, { nodeId: "node-a", environmentId: "demo", sequence: 3, ...o });

describe("waitForOutcome", () => {
  it("wakes on the folder channel's change event, not at the next poll", async () => {
    const channel = folder();
    const started = Date.now();
    // A poll of a minute: only the watch can end the wait this soon.
    const waiting = wait(channel, { timeoutMs: 30_000, pollMs: 60_000 });
    await new Promise((r) => setTimeout(r, 100));
    await channel.put(statusKey, JSON.stringify(applied(3)));
    const s = await waiting;
    expect(s.appliedSequence).toBe(3);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("ignores a status of another release and times out saying what it saw", async () => {
    const channel = folder();
    await channel.put(statusKey, JSON.stringify(applied(2)));
    await expect(wait(channel, { timeoutMs: 300 })).rejects.toThrow(
      /did not report on release 3 of environment demo within 0 s \(last status: applied, release 2\)/,
    );
    await expect(wait(channel, { timeoutMs: 100 })).rejects.toBeInstanceOf(StatusTimeoutError);
  });

  it("polls a store that cannot be watched (S3)", async () => {
    const objects = new Map<string, string>();
    let reads = 0;
    const channel: ChannelStore = {
      url: "s3://test",
      get: async (k) => {
        reads++;
        if (reads === 3) objects.set(statusKey, JSON.stringify(applied(3)));
        return objects.get(k);
      },
      put: async (k, v) => void objects.set(k, v.toString()),
      list: async () => [...objects.keys()],
      delete: async (k) => void objects.delete(k),
    };
    const s = await wait(channel, { timeoutMs: 10_000, pollMs: 10 });
    expect(s.appliedSequence).toBe(3);
    expect(reads).toBe(3);
  });
});
