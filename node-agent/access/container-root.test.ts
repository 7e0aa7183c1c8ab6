import { readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { firstProcessOf, mapId, openContainerRoot, parseIdMap } from "./container-root";

describe("a container's root and ids", () => {
  it("maps ids through a user namespace's map, and refuses those it does not hold", () => {
    const identity = parseIdMap("         0          0 4294967295\n");
    expect(mapId(identity, 1000)).toBe(1000);
    const remapped = parseIdMap("0 100000 65536\n65536 300000 10\nnonsense\n");
    expect(remapped).toHaveLength(2);
    expect(mapId(remapped, 0)).toBe(100000);
    expect(mapId(remapped, 1000)).toBe(101000);
    expect(mapId(remapped, 65537)).toBe(300001);
    expect(mapId(remapped, 65546)).toBeUndefined();
  });

  it("reads the first process of a running container only", () => {
    const of = (State: unknown) => firstProcessOf(JSON.stringify([{ State }]));
    expect(of({ Running: true, Pid: 4242, StartedAt: "2026-12-07T09:00:00Z" })).toEqual({
      pid: 4242,
      startedAt: "2026-12-07T09:00:00Z",
    });
    expect(of({ Running: false, Pid: 0, StartedAt: "x" })).toBeUndefined();
    expect(of({ Running: true, Pid: 0, StartedAt: "x" })).toBeUndefined();
    expect(of(undefined)).toBeUndefined();
  });

  it("opens /proc/<pid>/root only when the engine names the same first process before and after", async () => {
    // This process stands in for the container's first process: its root is the node's.
    const state = (pid: number, startedAt: string) =>
      JSON.stringify([{ State: { Running: true, Pid: pid, StartedAt: startedAt } }]);
    const answers = (...a: string[]) => {
      let i = 0;
      return async () => a[Math.min(i++, a.length - 1)] as string;
    };
    const same = state(process.pid, "2026-12-07T09:00:00Z");
    const root = await openContainerRoot("unused", "c0ffee", answers(same, same));
    try {
      expect(root.uid(1000)).toBe(1000);
      expect(root.gid(0)).toBe(0);
      expect(root.handle.fd).toBeGreaterThan(2);
    } finally {
      await root.handle.close();
    }
    // Restarted in between (another start, or another pid): refused, and nothing left open.
    const fds = readdirSync("/proc/self/fd").length;
    await expect(
      openContainerRoot("unused", "c0ffee", answers(same, state(process.pid, "2026-12-07T09:00:01Z"))),
    ).rejects.toThrow("container c0ffee stopped or restarted while its files were opened");
    await expect(
      openContainerRoot("unused", "c0ffee", answers(same, state(1, "2026-12-07T09:00:00Z"))),
    ).rejects.toThrow(/stopped or restarted/);
    await expect(
      openContainerRoot("unused", "c0ffee", answers(JSON.stringify([{ State: { Running: false } }]))),
    ).rejects.toThrow("container c0ffee is not running");
    expect(readdirSync("/proc/self/fd").length).toBe(fds);
  });
});
