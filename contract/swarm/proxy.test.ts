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

  it("answers its readiness itself: 503 while a route's backend has no live task", () => {
    expect(cfg.split("\n")).toContain("  monitor-uri /.berth/proxy-ready");
    expect(cfg.split("\n")).toContain(
      "  monitor fail if { nbsrv(r1_api) lt 1 } || { nbsrv(r2_web) lt 1 } || { nbsrv(r0_web) lt 1 }",
    );
  });
});
