import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseProxyConfig, planBackends, renderHaproxyConfig } from "./haproxy-config";
import { backendName, HAPROXY_NAME_PATTERN } from "./names";

const base = { socketPath: "/run/berth/haproxy.sock", http: { address: "127.0.0.1", port: 8080 } };

function lines(text: string): string[] {
  return text.split("\n").map((l) => l.trim());
}

describe("renderHaproxyConfig", () => {
  it("has the admin socket, http defaults and keep-alive", () => {
    const l = lines(renderHaproxyConfig(base));
    expect(l).toContain("stats socket /run/berth/haproxy.sock mode 600 level admin expose-fd listeners");
    expect(l).toContain("mode http");
    expect(l).toContain("option http-keep-alive");
    expect(l).toContain("timeout connect 5000ms");
    expect(l).toContain("bind 127.0.0.1:8080");
    expect(l).toContain("default_backend berth_no_route");
    expect(l.some((x) => x.startsWith("http-request return status 404"))).toBe(true);
    expect(l.some((x) => x.startsWith("http-error status 503"))).toBe(true);
  });

  it("gives every route a backend of disabled slots on a placeholder address", () => {
    const text = renderHaproxyConfig({ ...base, routes: [{ host: "app.example.com" }], slotsPerBackend: 3 });
    const l = lines(text);
    expect(l).toContain("backend be_app.example.com");
    expect(l).toContain("server s1 127.0.0.1:1 disabled");
    expect(l).toContain("server s2 127.0.0.1:1 disabled");
    expect(l).toContain("server s3 127.0.0.1:1 disabled");
    expect(l).toContain("use_backend be_app.example.com if { var(txn.berth_host) -m str app.example.com }");
  });

  it("serves the agent's access endpoint under /.berth/access/ on every host, ahead of the routes", () => {
    const l = lines(
      renderHaproxyConfig({
        ...base,
        routes: [{ host: "app.example.com" }],
        access: { socket: "/var/lib/berth/access/agent.sock" },
      }),
    );
    const access = l.indexOf("use_backend berth_access if { path_beg /.berth/access/ }");
    expect(access).toBeGreaterThan(0);
    expect(access).toBeLessThan(l.findIndex((x) => x.startsWith("use_backend be_app.example.com")));
    expect(l).toContain("server agent unix@/var/lib/berth/access/agent.sock");
    // An upload's body is spliced into the agent's socket, not copied through HAProxy.
    expect(l[l.indexOf("backend berth_access") + 1]).toBe("option splice-request");
    // A download's answer is spliced from the agent's socket (its relay's) to the client's.
    expect(l[l.indexOf("backend berth_access") + 2]).toBe("option splice-response");
    expect(lines(renderHaproxyConfig(base)).some((x) => x.includes("berth_access"))).toBe(false);
  });

  it("orders use_backend by path prefix length, longest first, host-only routes last", () => {
    const text = renderHaproxyConfig({
      ...base,
      routes: [
        { host: "a.example.com" },
        { host: "a.example.com", pathPrefix: "/api" },
        { host: "b.example.com", pathPrefix: "/api/v1/" },
        { host: "a.example.com", pathPrefix: "/api/admin" },
      ],
    });
    const order = lines(text)
      .filter((x) => x.startsWith("use_backend "))
      .map((x) => x.split(" ")[1]);
    expect(order).toEqual([
      "be_a.example.com:api:admin",
      "be_b.example.com:api:v1",
      "be_a.example.com:api",
      "be_a.example.com",
    ]);
    expect(text).toContain(
      "{ path /api } || { var(txn.berth_host) -m str a.example.com } { path_beg /api/ }",
    );
  });

  it("normalizes hosts and paths, and refuses duplicates and bad names with the field", () => {
    const plan = planBackends(
      parseProxyConfig({ ...base, routes: [{ host: "App.Example.COM.", pathPrefix: "/x/" }] }),
    );
    expect(plan[0]).toMatchObject({
      backend: "be_app.example.com:x",
      host: "app.example.com",
      pathPrefix: "/x",
    });
    expect(() =>
      renderHaproxyConfig({
        ...base,
        routes: [{ host: "a.example.com" }, { host: "A.example.com", pathPrefix: "/" }],
      }),
    ).toThrow(/two routes for a\.example\.com\//);
    expect(() => renderHaproxyConfig({ ...base, routes: [{ host: "a b;c" }] })).toThrow(/routes\.0\.host/);
    expect(() => renderHaproxyConfig({ ...base, routes: [{ host: "a.com", pathPrefix: "/a b" }] })).toThrow(
      /routes\.0\.pathPrefix/,
    );
    expect(() => renderHaproxyConfig({ ...base, socketPath: "relative.sock" })).toThrow(/socketPath/);
  });

  it("adds health checks only to routes that ask for them", () => {
    const text = renderHaproxyConfig({
      ...base,
      routes: [
        { host: "a.example.com", healthCheck: { path: "/healthz", intervalMs: 500 } },
        { host: "b.example.com" },
      ],
    });
    expect(text).toContain("http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host a.example.com");
    expect(text).toContain("server s1 127.0.0.1:1 disabled check inter 500ms rise 2 fall 3");
    expect(text).toMatch(
      /backend be_b\.example\.com\n {2}balance roundrobin\n {2}server s1 127\.0\.0\.1:1 disabled\n/,
    );
  });

  it("binds TLS with a default certificate and a crt-list, and keeps the server state across reloads", () => {
    const text = renderHaproxyConfig({
      ...base,
      tls: {
        address: "::",
        port: 443,
        defaultCert: "/etc/berth/tls/default.pem",
        crtList: "/etc/berth/tls/list",
      },
      serverStateFile: "/var/lib/berth/haproxy.state",
    });
    const l = lines(text);
    expect(l).toContain(
      "bind [::]:443 ssl crt /etc/berth/tls/default.pem crt-list /etc/berth/tls/list alpn h2,http/1.1",
    );
    expect(l).toContain("server-state-file /var/lib/berth/haproxy.state");
    // Decrypted bodies cross HAProxy through its buffer: 64 KiB of it where TLS is terminated.
    expect(l).toContain("tune.bufsize 65536");
    expect(lines(renderHaproxyConfig(base)).some((x) => x.startsWith("tune.bufsize"))).toBe(false);
    expect(l).toContain("load-server-state-from-file global");
    expect(l).not.toContain("http-request redirect scheme https code 301 if !{ ssl_fc }");
  });
});

describe("backendName", () => {
  const host = fc
    .array(fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?$/), { minLength: 1, maxLength: 3 })
    .map((p) => p.join("."));
  const path = fc.oneof(
    fc.constant(""),
    fc
      .array(fc.stringMatching(/^[A-Za-z0-9._-]{1,6}$/), { minLength: 1, maxLength: 3 })
      .map((s) => `/${s.join("/")}`),
  );

  it("is a valid HAProxy name, deterministic, and different for different routes", () => {
    fc.assert(
      fc.property(host, path, host, path, (h1, p1, h2, p2) => {
        const a = backendName(h1, p1);
        expect(a).toMatch(HAPROXY_NAME_PATTERN);
        expect(backendName(h1, p1)).toBe(a);
        if (h1 !== h2 || p1 !== p2) expect(backendName(h2, p2)).not.toBe(a);
      }),
    );
  });
});
