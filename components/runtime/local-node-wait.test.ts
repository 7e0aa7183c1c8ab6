// How the local node's provider waits for the agent's identity (waitUntil): at once when a file is
// written into the watched channel folder, not at its next poll. The poll here is a minute long,
// so only the folder's change can end the wait within the test's bound.
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { waitUntil } from "./local-node";

const root = mkdtempSync(join(tmpdir(), "berth-local-wait-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("waitUntil", () => {
  it("looks again as soon as a file is renamed into the watched folder", async () => {
    const dir = join(root, "nodes", "local-1");
    const file = join(dir, "identity.json");
    mkdirSync(dir, { recursive: true });
    let looks = 0;
    const waiting = waitUntil(
      "no identity",
      120_000,
      () => {
        looks++;
        try {
          return readFileSync(file, "utf8") === "{}";
        } catch {
          return false;
        }
      },
      join(root, "agent.log"),
      60_000,
      dir,
    );
    // The first look has found nothing; the agent then writes its identity as the channel does.
    while (looks === 0) await new Promise((r) => setImmediate(r));
    writeFileSync(`${file}.tmp`, "{}");
    renameSync(`${file}.tmp`, file);
    await waiting;
    expect(looks).toBeGreaterThanOrEqual(2);
  }, 30_000);

  it("without a folder to watch, still finds it by polling, and fails with the agent's log after the bound", async () => {
    writeFileSync(join(root, "agent2.log"), "line 1\nthe agent could not start\n");
    let n = 0;
    await waitUntil("never", 5_000, () => ++n >= 3, join(root, "agent2.log"), 10);
    expect(n).toBe(3);
    await expect(waitUntil("no identity", 50, () => false, join(root, "agent2.log"), 10)).rejects.toThrow(
      /no identity within 0 s; the agent's log .*agent2\.log ends with:\nline 1\nthe agent could not start/,
    );
  });
});
