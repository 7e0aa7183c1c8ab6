import { describe, expect, it } from "vitest";
import { generateNodeKeyPair, generateSigningKeyPair } from "../payload";
import { belowFloor } from "./leader-signed";
import {
  openTableCertificates,
  routeTableKey,
  sealTableCertificates,
  signRouteTable,
  verifyRouteTable,
} from "./routes";

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

describe("a table's certificates, sealed by the leader to each member", () => {
  const web1 = generateNodeKeyPair();
  const web2 = generateNodeKeyPair();
  const PEM = "-----BEGIN PRIVATE KEY-----\nnot-a-real-key\n-----END PRIVATE KEY-----\n";
  const sealed = (sequence = 2) =>
    signRouteTable(
      {
        group: "web",
        environmentId: "shop",
        sequence,
        withdrawn: false,
        port: 18080,
        routes: [{ host: "shop.test" }],
        tls: sealTableCertificates(
          { "berth.tls.shop": PEM },
          [
            { nodeId: "web-1", publicKey: web1.publicKey },
            { nodeId: "web-2", publicKey: web2.publicKey },
          ],
          { environmentId: "shop", sequence },
        ),
      },
      leader.privateKey,
    );

  it("each member opens its own; the table's text never holds the bundle", () => {
    const text = sealed();
    expect(text).not.toContain("not-a-real-key");
    const t = verifyRouteTable(text, expectFor);
    expect(openTableCertificates(t, "web-1", web1.privateKey)).toEqual({ "berth.tls.shop": PEM });
    expect(openTableCertificates(t, "web-2", web2.privateKey)).toEqual({ "berth.tls.shop": PEM });
  });

  it("another node's key, a box moved to another node's entry, and a node without an entry are refused", () => {
    const t = verifyRouteTable(sealed(), expectFor);
    expect(() => openTableCertificates(t, "web-2", web1.privateKey)).toThrow(/cannot be opened/);
    const moved = { ...t, tls: { ...t.tls, "web-1": t.tls?.["web-2"] ?? [] } };
    expect(() => openTableCertificates(moved, "web-1", web2.privateKey)).toThrow(/cannot be opened/);
    expect(() => openTableCertificates(moved, "web-1", web1.privateKey)).toThrow(/cannot be opened/);
    expect(() => openTableCertificates(t, "web-3", generateNodeKeyPair().privateKey)).toThrow(
      /none sealed to node web-3/,
    );
    // A box of release 2 in a table of release 3: bound to its release, it does not open.
    const other = verifyRouteTable(sealed(3), expectFor);
    expect(() => openTableCertificates({ ...other, tls: t.tls }, "web-1", web1.privateKey)).toThrow(
      /cannot be opened/,
    );
    expect(openTableCertificates({ ...t, tls: undefined }, "web-1", web1.privateKey)).toEqual({});
  });
});
