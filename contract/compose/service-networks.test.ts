import { describe, expect, it } from "vitest";
import { accept, at, reject, web } from "./testing";

const NETS = "networks:\n  front: {}\n  back:\n    internal: true\n    labels: [a=b]\n    driver: bridge\n";

describe("networks", () => {
  it("joins default when none is listed", () => {
    expect(accept(web("")).manifest.services.web?.networks).toEqual({ default: { aliases: [] } });
  });

  it("accepts user-defined bridge networks, as a list or with aliases", () => {
    const r = accept(web("networks: [front, default]", NETS));
    expect(r.manifest.services.web?.networks).toEqual({ front: { aliases: [] }, default: { aliases: [] } });
    expect(r.manifest.networks).toEqual({
      front: { labels: {}, internal: false },
      back: { labels: { a: "b" }, internal: true },
    });
    const m = accept(web("networks:\n  back:\n    aliases: [db, database]\n  front:", NETS));
    expect(m.manifest.services.web?.networks).toEqual({
      back: { aliases: ["db", "database"] },
      front: { aliases: [] },
    });
  });

  it("refuses undeclared networks and static IPs", () => {
    const ps = reject(
      web("networks:\n  nope:\n  front:\n    ipv4_address: 172.16.0.5\n    ipv6_address: ::5", NETS),
    );
    expect(at(ps, "services.web.networks.nope")).toMatchObject({
      line: 5,
      message: "network nope is not declared under top-level networks:",
    });
    const ip = at(ps, "services.web.networks.front.ipv4_address");
    expect(ip).toMatchObject({
      line: 7,
      message: "static IP addresses are not allowed: Docker assigns addresses on berth's networks",
    });
    expect(at(ps, "services.web.networks.front.ipv6_address").message).toContain("static IP addresses");
  });

  it("refuses external networks, other drivers and ipam at the top level", () => {
    const ps = reject(
      web(
        "",
        "networks:\n  a: { external: true }\n  b: { driver: overlay }\n  c:\n    ipam:\n      config: [{ subnet: 10.0.0.0/24 }]\n  d: { driver: host }\n",
      ),
    );
    expect(at(ps, "networks.a.external")).toMatchObject({
      line: 6,
      message: expect.stringContaining("external networks are not allowed"),
    });
    expect(at(ps, "networks.b.driver").message).toBe(
      'network driver "overlay" is not allowed: only user-defined bridge networks',
    );
    expect(at(ps, "networks.c.ipam").message).toContain("ipam (static subnets and addresses) is not allowed");
    expect(at(ps, "networks.d.driver").message).toContain('network driver "host"');
  });
});
