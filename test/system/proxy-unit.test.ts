// The node's HAProxy in its own systemd unit (contract/node/proxy-unit.ts), for real but without
// systemd (none runs here): systemd-analyze checks the rendered unit, and the agent's HaproxyControl
// drives a real HAProxy through a systemctl that does what systemd does with that unit's text
// (ExecStartPre and ExecStart detached, ExecReload with $MAINPID, SIGTERM to stop). The workers
// run as the `haproxy` user and reach the agent's access socket through its group. Runs as root,
// on 127.0.0.1; no Docker.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROXY_UNIT_NAME, renderProxyUnit } from "../../contract/node/proxy-unit";
import { groupId } from "../../lib/groups";
import { createLogger } from "../../lib/log";
import { run } from "../../lib/process";
import { NonceCache } from "../../node-agent/access/nonce-cache";
import { AccessServer } from "../../node-agent/access/server";
import { SessionLog } from "../../node-agent/access/session-log";
import { HaproxyControl } from "../../node-agent/proxy/haproxy-control";
import { freePort } from "./support/agent-harness";

const HOST = "unit.berth.test";
const route = { environmentId: `unit${process.pid}`, host: HOST };
const log = createLogger("test", { write: () => undefined });

let dir: string;
let accessDir: string;
let unitText: string;
let port = 0;
let upstream: Server;
let access: AccessServer;
let control: HaproxyControl;
let master: ChildProcess | undefined;
const calls: string[] = [];

const directives = (key: string) =>
  unitText
    .split("\n")
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => l.slice(key.length + 1));

/** What systemd does with the unit's text, for the verbs the agent uses. */
async function systemctl(args: string[]): Promise<void> {
  calls.push(args.join(" "));
  const [verb] = args;
  if (verb === "start") {
    for (const pre of directives("ExecStartPre")) await run("sh", ["-c", pre], { timeoutMs: 30_000 });
    const [bin = "", ...argv] = (directives("ExecStart")[0] ?? "").split(" ");
    master = spawn(bin, argv, { detached: true, stdio: "ignore" });
    master.unref();
  } else if (verb === "reload") {
    for (const line of directives("ExecReload"))
      await run("sh", ["-c", line.replace("$MAINPID", String(master?.pid))], { timeoutMs: 30_000 });
  } else if (verb === "stop" && master?.pid) {
    process.kill(master.pid, "SIGTERM");
    await new Promise((r) => master?.once("exit", r));
  }
}

function get(path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, headers: { host: HOST }, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => {
        body += d;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** The user names HAProxy's processes run as: the master's, then its workers'. */
async function processUsers(): Promise<{ master: string; workers: string[] }> {
  const pid = String(master?.pid);
  const m = await run("ps", ["-o", "user=", "-p", pid]);
  const w = await run("ps", ["-o", "user=", "--ppid", pid], { allowFailure: true });
  return { master: m.stdout.trim(), workers: w.stdout.split("\n").filter((l) => l.trim() !== "") };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "berth-proxy-unit-"));
  // As on a node: the state folder is root's alone (0700), the access socket in a folder of its own.
  accessDir = mkdtempSync(join(tmpdir(), "berth-proxy-unit-access-"));
  rmSync(accessDir, { recursive: true });
  unitText = renderProxyUnit({ dir: join(dir, "proxy") });
  upstream = createServer((_req, res) => res.end("hello through the unit"));
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  access = new AccessServer({
    nodeId: "unit-node",
    socketPath: join(accessDir, "agent.sock"),
    socketGroup: groupId("haproxy"),
    policy: () => undefined,
    handlers: {},
    nonces: new NonceCache({}),
    sessions: new SessionLog({ nodeId: "unit-node", stateRoot: dir, log }),
    log,
  });
  await access.start();
  port = await freePort();
  control = new HaproxyControl({
    dir: join(dir, "proxy"),
    bind: `127.0.0.1:${port}`,
    log,
    drainSeconds: 1,
    accessSocket: join(accessDir, "agent.sock"),
    unit: PROXY_UNIT_NAME,
    user: "haproxy",
    systemctl,
  });
});

afterAll(async () => {
  if (master?.pid && master.exitCode === null)
    await systemctl(["stop", PROXY_UNIT_NAME]).catch(() => undefined);
  await access?.stop();
  await new Promise((r) => upstream?.close(r));
  for (const d of [dir, accessDir]) if (d) rmSync(d, { recursive: true, force: true });
});

describe("HAProxy in its own systemd unit", () => {
  it("renders a unit systemd-analyze accepts without a warning", async () => {
    const unitDir = mkdtempSync(join(tmpdir(), "berth-proxy-unit-file-"));
    const file = join(unitDir, PROXY_UNIT_NAME);
    writeFileSync(file, unitText);
    const r = await run("systemd-analyze", ["verify", file], { allowFailure: true, timeoutMs: 60_000 });
    rmSync(unitDir, { recursive: true, force: true });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr.trim()).toBe("");
  });

  it("is started by the agent through systemctl, master root, workers as haproxy, and serves", async () => {
    await control.ensureRoutes([route]);
    expect(calls).toEqual([`reset-failed ${PROXY_UNIT_NAME}`, `start ${PROXY_UNIT_NAME}`]);
    await control.switchRoute(route, { host: "127.0.0.1", port: (upstream.address() as AddressInfo).port });
    expect(await get("/")).toEqual({ status: 200, body: "hello through the unit" });
    const users = await processUsers();
    expect(users.master).toBe("root");
    expect(users.workers).toEqual(["haproxy"]);
    // The master wrote the pid file the unit names; the configuration drops privileges.
    expect(Number(readFileSync(join(dir, "proxy", "haproxy.pid"), "utf8").trim())).toBe(master?.pid);
    expect(readFileSync(join(dir, "proxy", "haproxy.cfg"), "utf8")).toMatch(
      /^ {2}user haproxy\n {2}group haproxy$/m,
    );
  });

  it("lets the haproxy workers reach the access socket through its group, and no one else", async () => {
    const a = await get("/.berth/access/v1/node");
    expect(a.status).toBe(200);
    expect(JSON.parse(a.body)).toMatchObject({ nodeId: "unit-node" });
    const sock = statSync(join(accessDir, "agent.sock"));
    expect(sock.mode & 0o777).toBe(0o660);
    expect(sock.gid).toBe(groupId("haproxy"));
    expect(statSync(accessDir).mode & 0o777).toBe(0o750);
  });

  it("reloads for a route change through the unit's ExecReload (checked, then SIGUSR2): a new worker, still haproxy", async () => {
    const before = await control.api.ping();
    await control.ensureRoutes([route, { environmentId: route.environmentId, host: `two.${HOST}` }]);
    expect(calls.at(-1)).toBe(`reload ${PROXY_UNIT_NAME}`);
    expect(await control.api.ping()).not.toBe(before);
    expect(await get("/")).toEqual({ status: 200, body: "hello through the unit" });
    expect((await processUsers()).workers).toContain("haproxy");
  });

  it("stops through systemctl", async () => {
    await control.stop();
    expect(calls.at(-1)).toBe(`stop ${PROXY_UNIT_NAME}`);
    expect(await control.running()).toBe(false);
  });
});
