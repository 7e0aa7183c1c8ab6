// The swarm proxy's readiness answer, with real HAProxy on 127.0.0.1 and no Docker: the rendered
// configuration of contract/swarm/proxy.ts, with three lines changed for a machine without Swarm
// (the bind address, an admin socket to know it started, and the route's server pointed at a
// local upstream instead of Docker's DNS). The leader's agent asks with the readiness host and
// gets 200 or 503; a request for the route's host, the only kind the edge forwards, reaches the
// app on the same path and learns nothing of the tasks' health.
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  PROXY_READY_HOST,
  PROXY_READY_PATH,
  PROXY_TARGET_PORT,
  renderSwarmProxyConfig,
} from "../../contract/swarm/proxy";
import { type HaproxyProcess, startHaproxy } from "../../node-agent/proxy/haproxy-process";
import { askProxy } from "../../node-agent/swarm/proxy-ready";
import { freePort } from "./support/agent-harness";

const HOST = "shop.berth.test";
let dir: string;
let proxy: HaproxyProcess | undefined;
let port = 0;
let upstream: Server;

function get(host: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, path, headers: { host }, agent: false, timeout: 5_000 },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => {
          body += d;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("timeout", () => req.destroy(new Error("no answer within 5 s")));
    req.on("error", reject);
    req.end();
  });
}

/** Polls the readiness answer until it is `status` (bounded: HAProxy checks every 500 ms). */
async function readinessBecomes(status: number): Promise<number> {
  const deadline = Date.now() + 15_000;
  let last = 0;
  while (Date.now() < deadline) {
    last = (await get(PROXY_READY_HOST, PROXY_READY_PATH)).status;
    if (last === status) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  return last;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "berth-swarm-proxy-"));
  upstream = createServer((req, res) => res.end(`app saw ${req.url}`));
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  port = await freePort();
  const rendered = renderSwarmProxyConfig([{ service: "web", port: 8080, host: HOST }], "berth-shop");
  const text = rendered
    .replace("global\n", `global\n  stats socket ${join(dir, "admin.sock")} mode 600 level admin\n`)
    .replace(`  bind :${PROXY_TARGET_PORT}\n`, `  bind 127.0.0.1:${port}\n`)
    .replace(
      / {2}server-template task \d+ tasks\.berth-shop_web:8080\n/,
      `  server task1 127.0.0.1:${(upstream.address() as AddressInfo).port}\n`,
    );
  expect(text).not.toBe(rendered);
  expect(text).toContain(`server task1 127.0.0.1:`);
  proxy = await startHaproxy({
    configPath: join(dir, "haproxy.cfg"),
    configText: text,
    socketPath: join(dir, "admin.sock"),
    pidFile: join(dir, "haproxy.pid"),
  });
});

afterAll(async () => {
  await proxy?.stop(3_000);
  upstream?.closeAllConnections();
  await new Promise((r) => upstream?.close(r));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("the swarm proxy's readiness (real HAProxy)", () => {
  it("answers the leader's question asked with the readiness host: 200 while the route has a live task", async () => {
    expect(await readinessBecomes(200)).toBe(200);
    const answer = await askProxy({ node: "web-1", address: "127.0.0.1" }, port, 5_000);
    expect(answer).toMatchObject({ ready: true, answer: "HTTP 200" });
  });

  it("sends the same path for a route's host to the app, which keeps every path of its own", async () => {
    const r = await get(HOST, PROXY_READY_PATH);
    expect(r).toEqual({ status: 200, body: `app saw ${PROXY_READY_PATH}` });
  });

  it("says 503 to the leader once the route's task is gone, while the public sees only the app's failure", async () => {
    upstream.closeAllConnections();
    await new Promise((r) => upstream.close(r));
    expect(await readinessBecomes(503)).toBe(503);
    const answer = await askProxy({ node: "web-1", address: "127.0.0.1" }, port, 5_000);
    expect(answer).toMatchObject({ ready: false, answer: "HTTP 503" });
    // A stranger who names no route gets no readiness answer either (HAProxy's own 503 page).
    const stranger = await get("127.0.0.1", PROXY_READY_PATH);
    expect(stranger.body).toContain("No server is available");
    const readiness = await get(PROXY_READY_HOST, PROXY_READY_PATH);
    expect(readiness.body).not.toContain("No server is available");
  });
});
