import { describe, expect, it } from "vitest";
import { formatHeldBackup, formatStatus } from "./status";

describe("formatStatus", () => {
  it("shows what the node found in the channel and did not act on", () => {
    const text = formatStatus({
      formatVersion: 1,
      nodeId: "node-1",
      environmentId: "shop",
      state: "applied",
      appliedSequence: 4,
      services: [],
      anomalies: [
        "desired.json is missing from the channel: the environment keeps running (only a signed withdrawal tears it down)",
      ],
      updatedAt: "2026-12-06T09:00:00.000Z",
    });
    expect(text.split("\n").slice(0, 2)).toEqual([
      "shop on node-1 (updated 2026-12-06T09:00:00.000Z): applied, running release 4",
      "  anomaly: desired.json is missing from the channel: the environment keeps running (only a signed withdrawal tears it down)",
    ]);
  });

  it("shows each service: on a swarm, its replicas running, where, and why not all", () => {
    const text = formatStatus({
      formatVersion: 1,
      nodeId: "web-1",
      environmentId: "shop",
      state: "failed",
      appliedSequence: 1,
      attemptedSequence: 2,
      error: "release 2 failed on the swarm: web: update rollback completed (on web-3)",
      services: [
        { name: "store", state: "1/1 running on web-2" },
        { name: "web", state: "3/3 running on web-1, web-2, web-3" },
        {
          name: "worker",
          state: "1/2 running on web-1",
          health: "1 of 2 running; task failed: exit 1 (on web-3)",
        },
      ],
      updatedAt: "2026-12-06T12:00:00.000Z",
    });
    expect(text.split("\n").slice(1, 5)).toEqual([
      "  error: release 2 failed on the swarm: web: update rollback completed (on web-3)",
      "  service store: 1/1 running on web-2",
      "  service web: 3/3 running on web-1, web-2, web-3",
      "  service worker: 1/2 running on web-1 (1 of 2 running; task failed: exit 1 (on web-3))",
    ]);
  });

  it("on a node group, shows what an applying release waits for", () => {
    const text = formatStatus({
      formatVersion: 1,
      nodeId: "web-1",
      environmentId: "shop",
      state: "applying",
      attemptedSequence: 1,
      waiting:
        "release 1 waits for the holders of its volumes before it deploys: web-2 has not said its volumes are ready",
      services: [],
      updatedAt: "2026-12-06T12:00:00.000Z",
    });
    expect(text).toContain(
      "\n  waiting: release 1 waits for the holders of its volumes before it deploys: web-2 has not said its volumes are ready",
    );
  });

  it("on a node group, shows a holder's backups with the node that holds each volume", () => {
    const text = formatHeldBackup(
      {
        formatVersion: 1,
        nodeId: "web-2",
        environmentId: "shop",
        state: "applied",
        appliedSequence: 3,
        services: [],
        backup: {
          state: "ok",
          repository: "s3:http://127.0.0.1:7070/backups/shop",
          volumes: [
            {
              volume: "data",
              last: {
                at: "2026-12-06T12:00:00.000Z",
                durationMs: 1200,
                ok: true,
                snapshotId: "ab12cd34",
                bytesAdded: 2048,
              },
              lastSuccess: {
                at: "2026-12-06T12:00:00.000Z",
                durationMs: 1200,
                ok: true,
                snapshotId: "ab12cd34",
              },
              missed: 0,
              nextAt: "2026-12-07T03:00:00.000Z",
            },
          ],
        },
        updatedAt: "2026-12-06T12:00:01.000Z",
      },
      { signature: { ok: true, detail: "verified" } },
    );
    expect(text.split("\n").slice(0, 2)).toEqual([
      "  backups on web-2 (holds data; release 3): ok (s3:http://127.0.0.1:7070/backups/shop)",
      "    data: ok at 2026-12-06T12:00:00.000Z, snapshot ab12cd34, 2.0 KiB added in 1.2 s",
    ]);
  });
});
