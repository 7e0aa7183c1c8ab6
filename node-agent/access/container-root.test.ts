import { describe, expect, it } from "vitest";
import { firstProcessOf, mapId, parseIdMap } from "./container-root";

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
});
