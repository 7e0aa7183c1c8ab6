import { describe, expect, it } from "vitest";
import type { EnvironmentStatus } from "../channel/status";
import { parseManifest } from "../manifest/schema";
import { readNodeExtras, renderNodeCompose } from "../render/node-compose";
import { formatHistory, imagesOf, releaseStatus, resequenceCompose } from "./history";

const IMG = `127.0.0.1:5000/a/web@sha256:${"a".repeat(64)}`;
const m = parseManifest({
  formatVersion: 1,
  order: ["db", "web"],
  services: Object.fromEntries(
    (["db", "web"] as const).map((n) => [
      n,
      {
        image: IMG,
        environment: {},
        volumes: [],
        dependsOn: {},
        resources: {},
        updateOrder: n === "db" ? "stop-first" : "start-first",
        expose: [],
        labels: {},
        networks: { default: { aliases: [] } },
      },
    ]),
  ),
  volumes: {},
  networks: {},
  routes: [],
  routeHints: [],
  extensions: {},
});

describe("rollback content", () => {
  it("re-numbers a rendered file exactly as rendering it with the new sequence would", () => {
    const r2 = renderNodeCompose(m, { environmentId: "shop", sequence: 2, images: { db: IMG, web: IMG } });
    const r7 = renderNodeCompose(m, { environmentId: "shop", sequence: 7, images: { db: IMG, web: IMG } });
    expect(resequenceCompose(r2.text, 7)).toBe(r7.text);
    expect(readNodeExtras(JSON.parse(resequenceCompose(r2.text, 7).replace(/^#.*\n/, ""))).sequence).toBe(7);
    expect(imagesOf(r2.text)).toEqual({ db: IMG, web: IMG });
    expect(() => resequenceCompose("services: {}\n", 3)).toThrow(/not a Compose file rendered by berth/);
  });
});

describe("release status from the node's word", () => {
  const s: EnvironmentStatus = {
    formatVersion: 1,
    nodeId: "n1",
    environmentId: "shop",
    appliedSequence: 3,
    attemptedSequence: 4,
    state: "rolled-back",
    error: "release 4 failed and was rolled back to release 3: web unhealthy",
    services: [],
    releases: [
      { sequence: 1, outcome: "applied" },
      { sequence: 2, outcome: "failed", error: "web exited" },
      { sequence: 3, outcome: "applied" },
    ],
    updatedAt: "2026-01-01T00:00:00Z",
  };
  it("names each release's state", () => {
    expect(releaseStatus(3, s)).toEqual({ status: "running" });
    expect(releaseStatus(4, s)).toEqual({ status: "rolled-back", error: s.error });
    expect(releaseStatus(2, s)).toEqual({ status: "failed", error: "web exited" });
    expect(releaseStatus(1, s)).toEqual({ status: "applied" });
    expect(releaseStatus(5, s)).toEqual({ status: "not applied yet" });
    expect(releaseStatus(1, undefined).status).toBe("no status from the node");
    const text = formatHistory("shop", "n1", [
      { sequence: 1, issuedAt: "t1", images: { web: IMG }, status: "applied", publisher: "ed25519:x" },
      {
        sequence: 2,
        issuedAt: "t2",
        images: { web: IMG },
        status: "failed",
        publisher: "ed25519:x",
        error: "boom",
      },
    ]);
    expect(text.split("\n").map((l) => l.trim().split(/\s+/)[0])).toEqual(["shop", "seq", "2", "boom", "1"]);
  });
});
