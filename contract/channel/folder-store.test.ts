import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FolderChannelStore } from "./folder-store";
import { channelKeys, environmentsFromKeys } from "./layout";

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
});
