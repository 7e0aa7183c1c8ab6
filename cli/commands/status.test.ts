import { describe, expect, it } from "vitest";
import { formatStatus } from "./status";

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
});
