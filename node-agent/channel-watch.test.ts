import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { FolderChannelStore } from "../contract/channel/folder-store";
import { createLogger } from "../lib/log";
import { watchFolderChannel } from "./channel-watch";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("watching a folder channel", () => {
  it("wakes for the node's desired releases, not for its own status or other nodes", async () => {
    const root = mkdtempSync(join(tmpdir(), "berth-watch-"));
    dirs.push(root);
    const channel = new FolderChannelStore(root);
    const log = createLogger("test");
    log.level = "silent";
    let changes = 0;
    const stop = watchFolderChannel(
      root,
      "n1",
      log,
    )(() => {
      changes++;
    });
    try {
      await channel.put("nodes/n1/status/shop.json", "{}");
      await channel.put("nodes/n2/environments/shop/desired.json", '{"sequence":1}');
      await sleep(150);
      expect(changes).toBe(0);
      await channel.put("nodes/n1/environments/shop/releases/1.json", "{}");
      await channel.put("nodes/n1/environments/shop/desired.json", '{"sequence":1}');
      for (let i = 0; i < 40 && changes === 0; i++) await sleep(25);
      expect(changes).toBeGreaterThan(0);
    } finally {
      stop();
    }
  });
});
