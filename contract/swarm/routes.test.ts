import { describe, expect, it } from "vitest";
import { generateSigningKeyPair } from "../payload";
import { belowFloor, routeTableKey, signRouteTable, verifyRouteTable } from "./routes";

const leader = generateSigningKeyPair();
const table = (o: { sequence?: number; withdrawn?: boolean; environmentId?: string } = {}) =>
  signRouteTable(
    {
      group: "web",
      environmentId: o.environmentId ?? "shop",
      sequence: o.sequence ?? 2,
      withdrawn: o.withdrawn ?? false,
      port: 18080,
      routes: [{ host: "shop.test" }, { host: "shop.test", path: "/api" }],
    },
    leader.privateKey,
  );
const expectFor = { group: "web", environmentId: "shop", leaderStatusKey: leader.publicKey };

describe("swarm route tables", () => {
  it("verify against the leader's key: the routes, the port, the release", () => {
    expect(routeTableKey("web", "shop")).toBe("swarm/web/routes/shop.json");
    expect(verifyRouteTable(table(), expectFor)).toMatchObject({
      sequence: 2,
      withdrawn: false,
      port: 18080,
      routes: [{ host: "shop.test" }, { host: "shop.test", path: "/api" }],
    });
  });

  it("refuse another key, a changed table, another environment's table, and one below the floor", () => {
    const writer = generateSigningKeyPair();
    const forged = signRouteTable(
      { group: "web", environmentId: "shop", sequence: 3, withdrawn: false, port: 18080, routes: [] },
      writer.privateKey,
    );
    expect(() => verifyRouteTable(forged, expectFor)).toThrow(/not by the leader's key/);
    const changed = table().replace('"port":18080', '"port":18081');
    expect(() => verifyRouteTable(changed, expectFor)).toThrow(/the signature does not verify/);
    expect(() => verifyRouteTable(table({ environmentId: "blog" }), expectFor)).toThrow(
      /the table is blog's/,
    );
    expect(() =>
      verifyRouteTable(table(), { ...expectFor, floor: { sequence: 2, withdrawn: true } }),
    ).toThrow(/release 2 is below release 2 \(withdrawn\)/);
    expect(() => verifyRouteTable("{", expectFor)).toThrow(/not a signed route table/);
  });

  it("order: a newer release, then the same release withdrawn", () => {
    expect(belowFloor({ sequence: 1, withdrawn: true }, { sequence: 2, withdrawn: false })).toBe(true);
    expect(belowFloor({ sequence: 2, withdrawn: false }, { sequence: 2, withdrawn: true })).toBe(true);
    expect(belowFloor({ sequence: 2, withdrawn: true }, { sequence: 2, withdrawn: true })).toBe(false);
    expect(belowFloor({ sequence: 3, withdrawn: false }, { sequence: 2, withdrawn: true })).toBe(false);
  });
});
