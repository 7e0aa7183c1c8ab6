// Which nodes' proxies the leader asks, and what it makes of their answers (real HTTP on loopback).
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ApiNode, ApiService, ApiTask } from "./convergence";
import { askProxies, describeUnready, proxyTargets } from "./proxy-ready";

const nodes: ApiNode[] = [
  {
    ID: "n1",
    Spec: { Labels: { "berth.node": "web-1" } },
    Status: { Addr: "0.0.0.0" },
    ManagerStatus: { Addr: "10.0.0.1:2377" },
  },
  { ID: "n2", Spec: { Labels: { "berth.node": "web-2" } }, Status: { Addr: "10.0.0.2" } },
  { ID: "n3", Description: { Hostname: "h3" }, Status: { Addr: "10.0.0.3" } },
  { ID: "n4", Description: { Hostname: "h4" }, Status: { State: "down", Addr: "10.0.0.4" } },
];
const services: ApiService[] = [
  { ID: "p", Spec: { Name: "berth-shop_berth-proxy" } },
  { ID: "w", Spec: { Name: "berth-shop_web" } },
];
const task = (id: string, svc: string, node: string, state = "running", desired = "running"): ApiTask => ({
  ID: id,
  ServiceID: svc,
  NodeID: node,
  DesiredState: desired,
  Status: { State: state },
});

describe("proxyTargets", () => {
  it("the ready nodes with a running proxy task, by berth id, at their swarm address (a manager's from its manager address)", () => {
    const tasks = [
      task("1", "p", "n1"),
      task("2", "p", "n2"),
      task("3", "p", "n3", "shutdown", "shutdown"),
      task("4", "w", "n3"),
      task("5", "p", "n4"),
    ];
    expect(proxyTargets({ stack: "berth-shop", services, tasks, nodes })).toEqual([
      { node: "web-1", address: "10.0.0.1" },
      { node: "web-2", address: "10.0.0.2" },
    ]);
    expect(proxyTargets({ stack: "berth-other", services, tasks, nodes })).toEqual([]);
  });
});

describe("askProxies", () => {
  let ready: Server;
  let unready: Server;
  const port = (s: Server) => (s.address() as AddressInfo).port;
  beforeAll(async () => {
    ready = createServer((req, res) =>
      res
        .writeHead(
          req.url === "/.berth/proxy-ready" && req.headers.host === "berth-proxy.invalid" ? 200 : 404,
        )
        .end(),
    );
    unready = createServer((_req, res) => res.writeHead(503).end("no server"));
    await Promise.all([ready, unready].map((s) => new Promise<void>((r) => s.listen(0, "127.0.0.1", r))));
  });
  afterAll(() => {
    ready.close();
    unready.close();
  });

  it("ready only on a 200 of the readiness path; a 503 and a refused connection are named with their node", async () => {
    const a = await askProxies([{ node: "web-1", address: "127.0.0.1" }], port(ready));
    expect(a).toEqual([{ node: "web-1", address: "127.0.0.1", ready: true, answer: "HTTP 200" }]);
    expect(describeUnready(a, port(ready))).toBe("");
    const b = await askProxies(
      [
        { node: "web-2", address: "127.0.0.1" },
        { node: "web-3", address: "" },
      ],
      port(unready),
    );
    expect(b.map((x) => [x.node, x.ready, x.answer])).toEqual([
      ["web-2", false, "HTTP 503"],
      ["web-3", false, "the swarm knows no address of this node"],
    ]);
    expect(describeUnready(b, port(unready))).toMatch(
      new RegExp(
        `^berth-proxy: on web-2 \\(127\\.0\\.0\\.1:${port(unready)}\\) HTTP 503; on web-3 \\(\\?:\\d+\\) the swarm knows no address`,
      ),
    );
    const closed = port(unready);
    unready.close();
    await new Promise((r) => setTimeout(r, 50));
    const c = await askProxies([{ node: "web-2", address: "127.0.0.1" }], closed);
    expect(c[0]?.ready).toBe(false);
    expect(c[0]?.answer).toMatch(/ECONNREFUSED/);
  });
});
