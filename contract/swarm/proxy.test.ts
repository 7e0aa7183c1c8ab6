import { describe, expect, it } from "vitest";
import { renderSwarmProxyConfig } from "./proxy";

describe("renderSwarmProxyConfig", () => {
  const cfg = renderSwarmProxyConfig(
    [
      { service: "web", port: 8080, host: "shop.example.com" },
      { service: "api", port: 3000, host: "shop.example.com", path: "/api" },
      { service: "web", port: 8080, host: "*.example.org" },
    ],
    "berth-shop",
  );

  it("routes each host and path to the service's tasks by DNS round robin, longest path first", () => {
    const uses = cfg.split("\n").filter((l) => l.includes("use_backend"));
    expect(uses).toEqual([
      "  use_backend r1_api if { var(txn.host) -m str shop.example.com } { path /api } || { var(txn.host) -m str shop.example.com } { path_beg /api/ }",
      "  use_backend r2_web if { var(txn.host) -m end .example.org }",
      "  use_backend r0_web if { var(txn.host) -m str shop.example.com }",
    ]);
    expect(cfg).toContain("  server-template task 20 tasks.berth-shop_api:3000\n");
    expect(cfg).toContain("  nameserver dns 127.0.0.11:53\n");
  });

  it("retries a failed request on another task and checks each task every 500 ms", () => {
    for (const line of [
      "  retry-on all-retryable-errors",
      "  option redispatch 1",
      "  retries 3",
      "  timeout connect 1s",
      "  hold valid 1s",
    ])
      expect(cfg.split("\n")).toContain(line);
    expect(cfg).toMatch(/default-server check inter 500ms fall 1 rise 1 resolvers docker/);
  });

  it("answers its readiness itself, only to its own host: 503 while a route's backend has no live task", () => {
    const lines = cfg.split("\n");
    expect(lines).not.toContain("  monitor-uri /.berth/proxy-ready");
    expect(lines.filter((l) => l.includes("berth_unready nbsrv"))).toEqual([
      "  acl berth_unready nbsrv(r1_api) lt 1",
      "  acl berth_unready nbsrv(r2_web) lt 1",
      "  acl berth_unready nbsrv(r0_web) lt 1",
    ]);
    expect(lines).toContain("  acl berth_ready_ask path /.berth/proxy-ready");
    expect(lines).toContain("  acl berth_ready_ask_host var(txn.host) -m str berth-proxy.invalid");
    const ret503 = lines.indexOf(
      "  http-request return status 503 if berth_ready_ask berth_ready_ask_host berth_unready",
    );
    const ret200 = lines.indexOf("  http-request return status 200 if berth_ready_ask berth_ready_ask_host");
    // The host is known before it is asked for, and 503 wins over 200.
    expect(lines.indexOf("  http-request set-var(txn.host) req.hdr(host),field(1,:),lower")).toBeLessThan(
      ret503,
    );
    expect(ret503).toBeGreaterThan(-1);
    expect(ret200).toBeGreaterThan(ret503);
  });
});
