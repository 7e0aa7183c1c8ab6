import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, statSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FolderChannelStore } from "./folder-store";
import { channelKeys, environmentsFromKeys } from "./layout";
import { ChannelObjectTooLargeError, MAX_CHANNEL_OBJECT_BYTES } from "./limits";

describe("FolderChannelStore", () => {
  it("puts, gets, lists and deletes keys", async () => {
    const root = mkdtempSync(join(tmpdir(), "berth-channel-"));
    const ch = new FolderChannelStore(root);
    await ch.put(channelKeys.release("n1", "prod", 1), "r1");
    await ch.put(channelKeys.desired("n1", "prod"), '{"sequence":1}');
    await ch.put(channelKeys.desired("n1", "staging"), '{"sequence":4}');
    await ch.put(channelKeys.desired("n2", "prod"), '{"sequence":2}');
    expect(await ch.get(channelKeys.release("n1", "prod", 1))).toBe("r1");
    expect(await ch.get("nodes/n1/identity.json")).toBeUndefined();
    const keys = await ch.list(channelKeys.environmentsPrefix("n1"));
    expect(environmentsFromKeys("n1", keys)).toEqual(["prod", "staging"]);
    expect(statSync(join(root, "nodes/n1/environments/prod/desired.json")).mode & 0o777).toBe(0o644);
    await ch.delete(channelKeys.desired("n1", "staging"));
    expect(environmentsFromKeys("n1", await ch.list("nodes/n1/"))).toEqual(["prod"]);
  });

  it("refuses keys that would leave the folder", async () => {
    const ch = new FolderChannelStore(mkdtempSync(join(tmpdir(), "berth-channel-")));
    await expect(ch.put("../x", "")).rejects.toThrow(/invalid channel key/);
    await expect(ch.get("nodes//x")).rejects.toThrow(/invalid channel key/);
  });

  it("refuses ids that are not DNS-label-like", () => {
    expect(() => channelKeys.desired("N1", "prod")).toThrow(/node id "N1" is not valid/);
    expect(() => channelKeys.desired("n1", "../x")).toThrow(/environment id/);
  });

  it("refuses an object above the cap with its reason, without reading it", async () => {
    const root = mkdtempSync(join(tmpdir(), "berth-channel-"));
    const ch = new FolderChannelStore(root);
    await ch.put(channelKeys.release("n1", "prod", 1), "x");
    truncateSync(join(root, "nodes/n1/environments/prod/releases/1.json"), 1024 ** 3); // sparse 1 GiB
    const e = await ch.get(channelKeys.release("n1", "prod", 1)).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ChannelObjectTooLargeError);
    expect((e as Error).message).toBe(
      `channel object nodes/n1/environments/prod/releases/1.json is 1073741824 bytes, above the cap of ${MAX_CHANNEL_OBJECT_BYTES} bytes: not read (an object this large is no release; a channel writer's junk?)`,
    );
    await ch.put(channelKeys.release("n1", "prod", 2), "12345");
    expect(await ch.get(channelKeys.release("n1", "prod", 2), { maxBytes: 5 })).toBe("12345");
    await expect(ch.get(channelKeys.release("n1", "prod", 2), { maxBytes: 4 })).rejects.toThrow(
      /is 5 bytes, above the cap of 4 bytes/,
    );
  }, 30_000);

  it("follows no symbolic link, in a key's path or in a listing, and survives a link loop", async () => {
    const root = mkdtempSync(join(tmpdir(), "berth-channel-"));
    const ch = new FolderChannelStore(root);
    await ch.put(channelKeys.desired("n1", "prod"), '{"sequence":1}');
    const envs = join(root, "nodes/n1/environments");
    symlinkSync(envs, join(envs, "loop")); // a loop: environments/loop/loop/...
    symlinkSync("/etc/passwd", join(envs, "prod", "releases.json"));
    mkdirSync(join(root, "elsewhere"));
    writeFileSync(join(root, "elsewhere", "desired.json"), '{"sequence":9}');
    symlinkSync(join(root, "elsewhere"), join(envs, "stolen"));
    expect(await ch.list("nodes/n1/environments/")).toEqual(["nodes/n1/environments/prod/desired.json"]);
    await expect(ch.get("nodes/n1/environments/prod/releases.json")).rejects.toThrow(
      "channel object nodes/n1/environments/prod/releases.json is a symbolic link, which the channel never follows",
    );
    await expect(ch.get("nodes/n1/environments/stolen/desired.json")).rejects.toThrow(/is a symbolic link/);
    await expect(ch.get("nodes/n1/environments/loop/prod/desired.json")).rejects.toThrow(
      /is a symbolic link/,
    );
  });

  it("walks only the listed prefix's folder, and never blocks on a FIFO", async () => {
    const root = mkdtempSync(join(tmpdir(), "berth-channel-"));
    const ch = new FolderChannelStore(root);
    await ch.put(channelKeys.desired("n1", "prod"), "{}");
    await ch.put(channelKeys.desired("n2", "prod"), "{}");
    execFileSync("mkfifo", [join(root, "nodes/n1/environments/prod/pipe.json")], { timeout: 30_000 });
    expect(await ch.list("nodes/n1/")).toEqual(["nodes/n1/environments/prod/desired.json"]);
    await expect(ch.get("nodes/n1/environments/prod/pipe.json")).rejects.toThrow(/is not a regular file/);
    expect(await ch.list("nodes/n3/")).toEqual([]);
    expect(await ch.list("nodes/n")).toEqual([
      "nodes/n1/environments/prod/desired.json",
      "nodes/n2/environments/prod/desired.json",
    ]);
  });
});
