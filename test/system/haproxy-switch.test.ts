// The node proxy for real: haproxy with a rendered configuration, two tiny upstreams ("v1",
// "v2"), and 5 switches through the runtime API while 4 keep-alive clients send requests the
// whole time. Every request must succeed. Everything on 127.0.0.1; no Docker.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Agent, createServer, request, type Server } from "node:http";
import { type AddressInfo, createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { selfSignedCertificate } from "../../lib/openssl";
import { run } from "../../lib/process";
import {
  NO_ROUTE_MESSAGE,
  NO_SERVER_MESSAGE,
  renderHaproxyConfig,
} from "../../node-agent/proxy/haproxy-config";
import {
  checkHaproxyConfig,
  type HaproxyProcess,
  startHaproxy,
} from "../../node-agent/proxy/haproxy-process";
import { backendName } from "../../node-agent/proxy/names";
import { RuntimeApiError } from "../../node-agent/proxy/runtime-api";

const HOST = "app.berth.test";
const BACKEND = backendName(HOST);
const CLIENTS = 4;
const SWITCHES = 5;

let dir: string;
let proxy: HaproxyProcess | undefined;
let proxyPort = 0;
const upstreams: { name: string; server: Server; port: number }[] = [];

async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function upstream(name: string): Promise<{ name: string; server: Server; port: number }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.setHeader("content-type", "text/plain");
      res.end(name);
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { name, server, port: (server.address() as AddressInfo).port };
}

function get(
  host: string,
  path = "/",
  agent?: Agent,
): Promise<{ status: number; body: string; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port: proxyPort, path, headers: { host }, agent: agent ?? false, timeout: 5_000 },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => {
          body += d;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body, reused: req.reusedSocket }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error("request timed out")));
    req.on("error", reject);
    req.end();
  });
}

function configText(): string {
  return renderHaproxyConfig({
    socketPath: join(dir, "admin.sock"),
    http: { address: "127.0.0.1", port: proxyPort },
    routes: [
      { host: HOST },
      { host: HOST, pathPrefix: "/api", healthCheck: { path: "/health", intervalMs: 100 } },
    ],
    serverStateFile: join(dir, "server-state"),
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "berth-haproxy-"));
  proxyPort = await freePort();
  upstreams.push(await upstream("v1"), await upstream("v2"));
  proxy = await startHaproxy({
    configPath: join(dir, "haproxy.cfg"),
    configText: configText(),
    socketPath: join(dir, "admin.sock"),
    pidFile: join(dir, "haproxy.pid"),
    serverStateFile: join(dir, "server-state"),
  });
});

afterAll(async () => {
  await proxy?.stop(3_000);
  for (const u of upstreams) {
    u.server.closeAllConnections();
    await new Promise((r) => u.server.close(r));
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("the node proxy (HAProxy, runtime API)", () => {
  it("haproxy -c accepts the rendered configuration, with and without TLS", async () => {
    await checkHaproxyConfig(join(dir, "haproxy.cfg"));
    const tlsDir = join(dir, "tls");
    await run("mkdir", ["-p", tlsDir]);
    const { certificate, key } = await selfSignedCertificate({ commonName: "berth-default", days: 1 });
    const pem = certificate + key;
    writeFileSync(join(tlsDir, "default.pem"), pem, { mode: 0o600 });
    writeFileSync(join(tlsDir, "crt-list"), "");
    const tlsConfig = join(dir, "tls.cfg");
    writeFileSync(
      tlsConfig,
      renderHaproxyConfig({
        socketPath: join(dir, "tls.sock"),
        http: { address: "127.0.0.1", port: 1 },
        tls: {
          address: "127.0.0.1",
          port: 2,
          defaultCert: join(tlsDir, "default.pem"),
          crtList: join(tlsDir, "crt-list"),
          redirectHttp: true,
        },
        routes: [{ host: HOST, healthCheck: { path: "/health" } }],
        log: "stdout",
      }),
    );
    await checkHaproxyConfig(tlsConfig);
    writeFileSync(join(dir, "bad.cfg"), "frontend x\n  bind 127.0.0.1:1\n  nonsense-keyword yes\n");
    await expect(checkHaproxyConfig(join(dir, "bad.cfg"))).rejects.toThrow(
      /haproxy refused .*bad\.cfg[\s\S]*ALERT/,
    );
  });

  it("answers 404 for an unknown host and 503 for a route with no live server", async () => {
    const unknown = await get("unknown.example.com");
    expect(unknown).toMatchObject({ status: 404, body: NO_ROUTE_MESSAGE });
    const idle = await get(HOST);
    expect(idle).toMatchObject({ status: 503, body: NO_SERVER_MESSAGE });
  });

  it("gives HAProxy's own error text for a bad command", async () => {
    const api = proxy!.api;
    await expect(api.command("show nonsense")).rejects.toThrow(
      /HAProxy refused 'show nonsense': Unknown command/,
    );
    const e = await api.setServerState(BACKEND, "s9", "ready").catch((x: unknown) => x);
    expect(e).toBeInstanceOf(RuntimeApiError);
    expect((e as Error).message).toBe(
      `HAProxy refused 'set server ${BACKEND}/s9 state ready': No such server.`,
    );
    await expect(api.setServerState("be_missing", "s1", "ready")).rejects.toThrow(/No such backend/);
  });

  it(`switches ${SWITCHES} times under keep-alive load without one failed request`, async () => {
    const api = proxy!.api;
    const [v1, v2] = [upstreams[0]!, upstreams[1]!];
    const first = await api.switchBackend(BACKEND, { addr: "127.0.0.1", port: v1.port });
    expect(first).toMatchObject({ slot: "s1", drained: [], changed: true });
    expect((await get(HOST)).body).toBe("v1");
    // The /api route is its own backend, still without a server.
    expect((await get(HOST, "/api/x")).status).toBe(503);

    const counts = { ok: 0, failed: 0, reused: 0, v1: 0, v2: 0 };
    const failures: string[] = [];
    let stop = false;
    let lastBody = "";
    const deadline = Date.now() + 60_000;
    const agents = Array.from({ length: CLIENTS }, () => new Agent({ keepAlive: true, maxSockets: 1 }));
    const clients = agents.map(async (agent) => {
      for (let i = 0; i < 1_000_000 && !stop && Date.now() < deadline; i++) {
        try {
          const r = await get(HOST, `/r${i}`, agent);
          if (r.status === 200 && (r.body === "v1" || r.body === "v2")) {
            counts.ok++;
            counts[r.body]++;
            if (r.reused) counts.reused++;
            lastBody = r.body;
          } else {
            counts.failed++;
            failures.push(`HTTP ${r.status} ${r.body.slice(0, 80)}`);
          }
        } catch (e) {
          counts.failed++;
          failures.push((e as Error).message);
        }
      }
    });

    const switches: string[] = [];
    try {
      await new Promise((r) => setTimeout(r, 500));
      for (let n = 0; n < SWITCHES; n++) {
        const to = n % 2 === 0 ? v2 : v1;
        const before = counts.ok;
        const r = await api.switchBackend(
          BACKEND,
          { addr: "127.0.0.1", port: to.port },
          { upTimeoutMs: 5_000, drainTimeoutMs: 2_000, pollMs: 20 },
        );
        expect(r.changed).toBe(true);
        expect(r.sessionsLeft).toBe(0);
        switches.push(`${r.drained.join(",")} -> ${r.slot} (${to.name})`);
        // Responses move to the new version, and traffic kept flowing.
        const probe = await get(HOST);
        expect(probe.body).toBe(to.name);
        await new Promise((res) => setTimeout(res, 700));
        expect(counts.ok).toBeGreaterThan(before);
        expect(lastBody).toBe(to.name);
      }
    } finally {
      stop = true;
      await Promise.all(clients);
      for (const a of agents) a.destroy();
    }

    const servers = await api.showServers(BACKEND);
    console.log(
      `haproxy switch: ${counts.ok + counts.failed} requests over ${SWITCHES} switches with ${CLIENTS} keep-alive clients: ` +
        `${counts.ok} ok (${counts.v1} v1, ${counts.v2} v2, ${counts.reused} on reused connections), ${counts.failed} failed` +
        `\n  switches: ${switches.join("; ")}` +
        (failures.length ? `\n  failures: ${failures.slice(0, 10).join(" | ")}` : ""),
    );
    expect(failures).toEqual([]);
    expect(counts.failed).toBe(0);
    expect(counts.ok).toBeGreaterThan(1_000);
    expect(counts.v1).toBeGreaterThan(0);
    expect(counts.v2).toBeGreaterThan(0);
    expect(counts.reused).toBeGreaterThan(counts.ok / 2);
    expect(servers.filter((s) => s.admin !== "maint").map((s) => s.port)).toEqual([v2.port]);
    // Switching to where traffic already goes changes nothing.
    expect(await api.switchBackend(BACKEND, { addr: "127.0.0.1", port: v2.port })).toMatchObject({
      changed: false,
    });
  });

  it("with health checks, switches only to a slot whose check passed, and parks one that fails", async () => {
    const api = proxy!.api;
    const apiBackend = backendName(HOST, "/api");
    const v1 = upstreams[0]!;
    const ok = await api.switchBackend(
      apiBackend,
      { addr: "127.0.0.1", port: v1.port },
      { upTimeoutMs: 5_000 },
    );
    expect(ok).toMatchObject({ slot: "s1", changed: true });
    expect((await api.server(apiBackend, "s1")).status).toBe("UP");
    expect(await get(HOST, "/api/x")).toMatchObject({ status: 200, body: "v1" });

    const dead = await freePort();
    await expect(
      api.switchBackend(apiBackend, { addr: "127.0.0.1", port: dead }, { upTimeoutMs: 5_000, pollMs: 20 }),
    ).rejects.toThrow(
      new RegExp(`${apiBackend}/s2 at 127.0.0.1:${dead} failed its health check: .*Connection refused`),
    );
    const servers = await api.showServers(apiBackend);
    expect(servers.map((s) => [s.name, s.admin, s.port])).toEqual([
      ["s1", "ready", v1.port],
      ["s2", "maint", dead],
    ]);
    expect(await get(HOST, "/api/x")).toMatchObject({ status: 200, body: "v1" });
  });

  it("keeps the live slot across a reload (server-state-file)", async () => {
    const v2 = upstreams[1]!;
    const before = await proxy!.api.ping();
    await proxy!.reload(configText());
    expect(await proxy!.api.ping()).not.toBe(before);
    const live = (await proxy!.api.showServers(BACKEND)).filter((s) => s.admin !== "maint");
    expect(live.map((s) => [s.addr, s.port, s.op])).toEqual([["127.0.0.1", v2.port, "up"]]);
    expect(await get(HOST)).toMatchObject({ status: 200, body: "v2" });
  });
});
