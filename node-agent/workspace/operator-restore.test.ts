import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { NodeBackup } from "../../contract/backup/schema";
import type { Snapshot } from "../backup/restic";
import type { WorkspaceBackups } from "./backup";
import type { WorkspaceExecutor } from "./executor";
import { operatorRestore } from "./operator-restore";

const snap = (id: string, volume: string, second: number): Snapshot => ({
  id: `${id}${"0".repeat(56)}`,
  shortId: id,
  time: `2026-12-06T10:00:${String(second).padStart(2, "0")}Z`,
  volume,
});
const LIST = [snap("aaaa0001", "tree", 1), snap("aaaa0002", "home", 2), snap("aaaa0003", "meta", 3)];

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A recording executor and Backups shell: what the restore did, in order. */
function fakes(o: { state: "running" | "stopped"; backupFails?: boolean; list?: Snapshot[] }) {
  const dir = mkdtempSync(join(tmpdir(), "berth-op-restore-"));
  dirs.push(dir);
  const did: string[] = [];
  const ex = {
    status: () => ({ state: o.state }),
    dir: () => dir,
    stopContainers: async () => void did.push("stop"),
    wake: async () => void did.push("start"),
    patchStatus: async (_id: string, p: object) => void did.push(`status ${JSON.stringify(p)}`),
  } as unknown as WorkspaceExecutor;
  const backups = {
    snapshots: async () => o.list ?? LIST,
    backupNow: async () => {
      did.push("backup");
      return ["tree", "home", "meta"].map((volume, i) => ({
        volume,
        run:
          o.backupFails && volume === "home"
            ? { ok: false, error: "bucket gone" }
            : { ok: true, snapshotId: `bbbb000${i + 1}` },
      }));
    },
    restoreSnapshots: async (_id: string, _nb: NodeBackup, _s: Record<string, string>, ids: string[]) => {
      did.push(`restore ${ids.map((i) => i.slice(0, 8)).join(",")}`);
      return ["tree", "home", "meta"].map((volume) => ({
        volume,
        action: "restored" as const,
        detail: "ok",
      }));
    },
  } as unknown as WorkspaceBackups;
  const lines: string[] = [];
  const deps = {
    id: "w",
    ex,
    backups,
    nb: {} as NodeBackup,
    secrets: {},
    home: dir,
    noteRoots: () => void did.push("note"),
    say: (l: string) => void lines.push(l),
  };
  return { deps, did, lines };
}

describe("an operator's restore", () => {
  it("stops a running workspace, backs the current state up first and names it, restores, starts it again", async () => {
    const f = fakes({ state: "running" });
    expect(await operatorRestore(f.deps, "aaaa0002")).toBe(0);
    expect(f.did).toEqual([
      "stop",
      "note",
      "backup",
      "restore aaaa0001,aaaa0002,aaaa0003",
      "status {}",
      "start",
    ]);
    expect(f.lines.join("\n")).toContain(
      "backed up first as snapshot bbbb0001 (berth workspace restore w bbbb0001",
    );
    expect(f.lines.at(-1)).toBe("workspace w restored to snapshot aaaa0001 of 2026-12-06T10:00:01Z");
  });

  it("leaves a sleeping workspace asleep", async () => {
    const f = fakes({ state: "stopped" });
    expect(await operatorRestore(f.deps, "aaaa0001")).toBe(0);
    expect(f.did).not.toContain("stop");
    expect(f.did).not.toContain("start");
  });

  it("restores nothing when the current state cannot be backed up, and the workspace runs on", async () => {
    const f = fakes({ state: "running", backupFails: true });
    expect(await operatorRestore(f.deps, "aaaa0001")).toBe(1);
    expect(f.did).toEqual(["stop", "note", "backup", "start"]);
    expect(f.lines.join("\n")).toContain(
      "could not be backed up first (home: bucket gone): nothing was restored",
    );
  });

  it("changes nothing for an unknown or an incomplete snapshot", async () => {
    const unknown = fakes({ state: "running" });
    expect(await operatorRestore(unknown.deps, "ffff0001")).toBe(1);
    expect(unknown.did).toEqual([]);
    expect(unknown.lines[0]).toContain("has no snapshot ffff0001");
    const partial = fakes({ state: "running", list: LIST.slice(0, 2) });
    expect(await operatorRestore(partial.deps, "aaaa0001")).toBe(1);
    expect(partial.did).toEqual([]);
    expect(partial.lines[0]).toContain("is incomplete (meta missing)");
  });
});
