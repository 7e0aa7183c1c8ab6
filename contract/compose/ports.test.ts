import { describe, expect, it } from "vitest";
import { parseShortPort } from "./ports";
import { accept, at, reject, web } from "./testing";

describe("ports", () => {
  it("turns container ports into route hints and never publishes host ports", () => {
    const r = accept(
      web(
        "ports:\n  - 8080\n  - '3000'\n  - 8000:80\n  - 127.0.0.1:9000:9090/tcp\n  - target: 7000\n    published: 7001\n  - 8080",
      ),
    );
    expect(r.manifest.routeHints).toEqual([
      { service: "web", port: 8080 },
      { service: "web", port: 3000 },
      { service: "web", port: 80 },
      { service: "web", port: 9090 },
      { service: "web", port: 7000 },
    ]);
    const w = r.warnings.find((x) => x.path === "services.web.ports[2]");
    expect(w).toMatchObject({ line: 7 });
    expect(w?.message).toBe(
      "the host port is not published: berth never publishes host ports; container port 80 becomes a route hint",
    );
    expect(JSON.stringify(r.manifest)).not.toContain("8000");
  });

  it("gives no hint for UDP ports or ranges (warning)", () => {
    const r = accept(web("ports:\n  - 53:53/udp\n  - 8000-8010:8000-8010"));
    expect(r.manifest.routeHints).toEqual([]);
    expect(r.warnings.map((w) => w.message)).toEqual([
      "container port 53/udp gives no route hint: berth routes single TCP ports",
      "container ports 8000-8010/tcp gives no route hint: berth routes single TCP ports",
    ]);
  });

  it("refuses malformed ports", () => {
    const ps = reject(
      web("ports:\n  - abc\n  - 70000\n  - published: 80\n  - target: x\n  - { target: 80, hostport: 1 }"),
    );
    expect(at(ps, "services.web.ports[0]")).toMatchObject({ line: 5, message: '"abc" is not a port' });
    expect(at(ps, "services.web.ports[1]").message).toBe('"70000" is not a port');
    expect(at(ps, "services.web.ports[2]").message).toBe("a port needs target: (the container port)");
    expect(at(ps, "services.web.ports[3].target").message).toBe('"x" is not a port (1-65535)');
    expect(at(ps, "services.web.ports[4].hostport").message).toBe('unknown port field "hostport"');
    expect(at(reject(web("ports: 80")), "services.web.ports").message).toBe("ports must be a list");
  });

  it("parses the short syntax", () => {
    expect(parseShortPort("[::1]:8080:80/tcp")).toEqual({
      from: 80,
      to: 80,
      protocol: "tcp",
      host: "[::1]:8080",
    });
    expect(parseShortPort("80")).toEqual({ from: 80, to: 80, protocol: "tcp" });
    expect(parseShortPort("80/quic")).toBeUndefined();
  });
});

describe("expose", () => {
  it("accepts ports, protocols and small ranges", () => {
    const r = accept(web("expose:\n  - 3000\n  - '4000/tcp'\n  - 5000-5002\n  - 3000"));
    expect(r.manifest.services.web?.expose).toEqual([3000, 4000, 5000, 5001, 5002]);
  });

  it("refuses what is not a port, and huge ranges", () => {
    const ps = reject(web("expose:\n  - http\n  - 0\n  - 1-65535"));
    expect(at(ps, "services.web.expose[0]")).toMatchObject({ line: 5, message: '"http" is not a port' });
    expect(at(ps, "services.web.expose[1]").message).toBe('"0" is not a port');
    expect(at(ps, "services.web.expose[2]").message).toBe("the range 1-65535 is too wide");
  });
});
