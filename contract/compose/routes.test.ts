import { describe, expect, it } from "vitest";
import { accept, at, reject, web } from "./testing";

describe("x-berth-routes", () => {
  it("accepts routes with an optional path", () => {
    const r = accept(
      web(
        "",
        "x-berth-routes:\n  - { service: web, port: 80, host: shop.example.com }\n  - service: web\n    port: '8080'\n    host: '*.example.com'\n    path: /api\n",
      ),
    );
    expect(r.manifest.routes).toEqual([
      { service: "web", port: 80, host: "shop.example.com" },
      { service: "web", port: 8080, host: "*.example.com", path: "/api" },
    ]);
  });

  it("refuses unknown services, bad hosts, ports and paths, and duplicates", () => {
    const ps = reject(
      web(
        "",
        [
          "x-berth-routes:",
          "  - { service: api, port: 80, host: a.example.com }",
          "  - { service: web, port: 0, host: b.example.com }",
          "  - { service: web, port: 80, host: 'https://c.example.com/' }",
          "  - { service: web, port: 80, host: d.example.com, path: api }",
          "  - { service: web, port: 80, host: e.example.com, tls: true }",
          "  - { service: web, port: 80, host: f.example.com }",
          "  - { service: web, port: 81, host: f.example.com }",
          "  - { port: 80 }",
        ].join("\n"),
      ),
    );
    expect(at(ps, "x-berth-routes[0].service")).toMatchObject({
      line: 6,
      message: "route to service api, which is not defined",
    });
    expect(at(ps, "x-berth-routes[1].port").message).toBe("port must be between 1 and 65535, got 0");
    expect(at(ps, "x-berth-routes[2].host").message).toBe('"https://c.example.com/" is not a host name');
    expect(at(ps, "x-berth-routes[3].path").message).toBe('path "api" must start with /');
    expect(at(ps, "x-berth-routes[4].tls").message).toBe('unknown route field "tls"');
    expect(at(ps, "x-berth-routes[6]").message).toBe("f.example.com is routed twice");
    expect(ps.filter((p) => p.path === "x-berth-routes[7]").map((p) => p.message)).toEqual([
      "a route needs service:",
      "a route needs host:",
    ]);
  });

  it("must be a list", () => {
    expect(at(reject(web("", "x-berth-routes: {}\n")), "x-berth-routes").message).toContain("must be a list");
  });
});

describe("x-berth-health", () => {
  it("accepts path, port and status (default 200)", () => {
    expect(
      accept(web("x-berth-health: { path: /healthz, port: 8080 }")).manifest.services.web?.health,
    ).toEqual({
      path: "/healthz",
      port: 8080,
      status: 200,
    });
    expect(
      accept(web("x-berth-health: { path: /, port: 80, status: 204 }")).manifest.services.web?.health?.status,
    ).toBe(204);
  });

  it("refuses missing and bad fields", () => {
    const ps = reject(web("x-berth-health:\n  path: healthz\n  status: 700\n  timeout: 1s"));
    expect(at(ps, "services.web.x-berth-health.path")).toMatchObject({
      line: 5,
      message: 'path "healthz" must start with /',
    });
    expect(at(ps, "services.web.x-berth-health").message).toBe(
      "x-berth-health needs port: (the container port)",
    );
    expect(at(ps, "services.web.x-berth-health.status").message).toBe(
      "status must be between 100 and 599, got 700",
    );
    expect(at(ps, "services.web.x-berth-health.timeout").message).toBe(
      'unknown x-berth-health field "timeout"',
    );
  });

  it("refuses unknown berth extensions on a service with a suggestion", () => {
    const p = at(reject(web("x-berth-helth: {}")), "services.web.x-berth-helth");
    expect(p).toMatchObject({
      message: "unknown berth extension x-berth-helth",
      hint: 'did you mean "x-berth-health"?',
    });
  });
});
