// The agent's handle on the node's HAProxy (implements the apply's ProxyControl). HAProxy runs
// apart from the agent, so an agent restart or crash never touches traffic; a restarted agent
// attaches to the running HAProxy through its admin socket. On a cloud node HAProxy has its own
// systemd unit (`unit`, contract/node/proxy-unit.ts), started and reloaded with systemctl;
// elsewhere (the local node, tests) the agent starts it as a detached process. Routes are kept in routes.json;
// the configuration changes (a reload that keeps servers' addresses through the server-state
// file) only when a route is added or removed, never for a release switch.

import { spawn } from "node:child_process";
import { existsSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { haproxyArgs, proxyFiles } from "../../contract/node/proxy-unit";
import type { TlsBundle } from "../../contract/release/tls";
import { writeFileAtomic } from "../../lib/atomic-write";
import type { Logger } from "../../lib/log";
import { alive } from "../../lib/pid";
import { run } from "../../lib/process";
import type { RouteKey, Upstream } from "../apply/plan";
import type { ProxyControl } from "../apply/proxy-control";
import { ProxyCertificates } from "./certificates";
import { DEFAULT_SLOTS, renderHaproxyConfig } from "./haproxy-config";
import { haproxyMasterPid, waitUntilReloadable } from "./haproxy-master";
import { checkHaproxyConfig, haproxyOutput } from "./haproxy-process";
import { backendName, normalizeHost, normalizePathPrefix } from "./names";
import { HaproxyRuntimeApi } from "./runtime-api";

export interface HaproxyControlOptions {
  /** Folder for haproxy.cfg, the admin socket, the pid and state files, routes.json, the log. */
  dir: string;
  /** Where HAProxy listens for the app's traffic, e.g. "0.0.0.0:80". */
  bind: string;
  haproxyBin?: string;
  log: Logger;
  /** Seconds a switch waits for the old server's open requests before putting it in maintenance. */
  drainSeconds?: number;
  /** A TLS listener (cloud nodes), e.g. { bind: "0.0.0.0:443" }: certificates come with releases. */
  tls?: { bind: string; redirectHttp?: boolean };
  /** The agent's access endpoint (Unix socket), served under /.berth/access/ (node-agent/access). */
  accessSocket?: string;
  /**
   * The systemd unit HAProxy runs in (e.g. berth-haproxy.service): started and reloaded with
   * systemctl. Absent: the agent starts HAProxy itself, detached.
   */
  unit?: string;
  /** HAProxy's workers drop to this user and its group after binding (e.g. `haproxy`). */
  user?: string;
  /** Runs systemctl (tests pass a recording one). */
  systemctl?: (args: string[]) => Promise<void>;
}

async function systemctl(args: string[]): Promise<void> {
  await run("systemctl", args, { timeoutMs: 60_000 });
}

interface RouteEntry extends RouteKey {}

export class RouteConflictError extends Error {}

export class HaproxyControl implements ProxyControl {
  readonly socketPath: string;
  readonly configPath: string;
  private readonly pidFile: string;
  private readonly stateFile: string;
  private readonly routesFile: string;
  readonly api: HaproxyRuntimeApi;
  readonly certificates: ProxyCertificates;

  constructor(private readonly o: HaproxyControlOptions) {
    mkdirSync(o.dir, { recursive: true, mode: 0o700 });
    const files = proxyFiles(o.dir);
    this.socketPath = files.socket;
    this.configPath = files.config;
    this.pidFile = files.pidFile;
    this.stateFile = files.serverState;
    this.routesFile = files.routes;
    this.api = new HaproxyRuntimeApi({ socketPath: this.socketPath, timeoutMs: 5_000 });
    this.certificates = new ProxyCertificates(join(o.dir, "tls"), this.api, o.log);
  }

  routes(): RouteEntry[] {
    if (!existsSync(this.routesFile)) return [];
    return JSON.parse(readFileSync(this.routesFile, "utf8")) as RouteEntry[];
  }

  private renderConfig(routes: RouteEntry[]): string {
    const [address, port] = splitBind(this.o.bind);
    const tls = this.o.tls;
    const [tlsAddress, tlsPort] = tls ? splitBind(tls.bind) : ["", 0];
    return renderHaproxyConfig({
      socketPath: this.socketPath,
      http: { address, port },
      ...(tls
        ? {
            tls: {
              address: tlsAddress,
              port: tlsPort,
              defaultCert: this.certificates.defaultCert,
              crtList: this.certificates.crtList,
              redirectHttp: tls.redirectHttp ?? false,
            },
          }
        : {}),
      serverStateFile: this.stateFile,
      ...(this.o.accessSocket ? { access: { socket: this.o.accessSocket } } : {}),
      routes: routes.map((r) => ({
        host: r.host,
        ...(r.path ? { pathPrefix: r.path } : {}),
        ...(r.slots !== undefined ? { slots: r.slots } : {}),
      })),
      ...(this.o.user ? { user: this.o.user, group: this.o.user } : {}),
      log: this.o.unit || haproxyOutput(process.env, this.o.dir).kind === "journal" ? "stdout" : "ring",
    });
  }

  async running(): Promise<boolean> {
    try {
      await this.api.ping();
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Starts HAProxy if it is not running (attaching to it otherwise). Whether it runs is its
   * master's word (the pid file's process, running this configuration), not one answer on the
   * socket: a second HAProxy started beside a live one whose answer was late (a busy machine, a
   * reload's moment) binds the same ports (SO_REUSEPORT: the two share the traffic, the old one with
   * its old routes) and puts its admin socket over the first one's; once it stops, the socket's
   * file is left with nothing listening while the first HAProxy goes on serving.
   */
  async start(): Promise<void> {
    if (this.masterPid() !== undefined || (await this.running())) {
      await this.waitForWorker(10_000);
      // A running HAProxy from before the access endpoint existed gets it with one reload.
      const cfg = existsSync(this.configPath) ? readFileSync(this.configPath, "utf8") : "";
      if (this.o.accessSocket && !cfg.includes(`unix@${this.o.accessSocket}`))
        await this.reload(this.routes());
      return;
    }
    if (this.o.tls) await this.certificates.ensureFiles();
    const text = this.renderConfig(this.routes());
    writeFileAtomic(this.configPath, text, 0o644);
    if (!existsSync(this.stateFile)) writeFileAtomic(this.stateFile, "1\n", 0o600);
    await checkHaproxyConfig(this.configPath, this.o.haproxyBin);
    if (this.o.unit) {
      // reset-failed: a unit that gave up (start limit) after a bad file starts again.
      await (this.o.systemctl ?? systemctl)(["reset-failed", this.o.unit]).catch(() => undefined);
      await (this.o.systemctl ?? systemctl)(["start", this.o.unit]);
      await this.waitForWorker(10_000);
      this.o.log.info({ bind: this.o.bind, unit: this.o.unit }, "proxy started");
      return;
    }
    const where = haproxyOutput(process.env, this.o.dir);
    // The journal stream is the agent's own stdout, inherited: HAProxy keeps it across agent restarts.
    const out = where.kind === "journal" ? "inherit" : openSync(where.path, "w");
    const child = spawn(
      this.o.haproxyBin ?? "haproxy",
      haproxyArgs({ configPath: this.configPath, pidFile: this.pidFile, mode: "foreground" }),
      { detached: true, stdio: ["ignore", out, out] },
    );
    child.unref();
    await this.waitForWorker(10_000);
    this.o.log.info({ bind: this.o.bind, pid: child.pid }, "proxy started");
  }

  /** Stops HAProxy (the local node's teardown). */
  async stop(): Promise<void> {
    if (this.o.unit) {
      await (this.o.systemctl ?? systemctl)(["stop", this.o.unit]);
      return;
    }
    const pid = this.masterPid();
    if (pid === undefined) return;
    try {
      process.kill(pid, "SIGUSR1");
    } catch {
      return;
    }
    for (let i = 0; i < 50 && alive(pid); i++) await sleep(100);
    if (alive(pid)) process.kill(pid, "SIGKILL");
  }

  /** HAProxy's master: the pid file's process while it runs this configuration. */
  private masterPid(): number | undefined {
    return haproxyMasterPid(this.pidFile, this.configPath);
  }

  /** The worker's pid once it answers on the admin socket (another than `notPid`). */
  private async waitForWorker(timeoutMs: number, notPid?: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    while (Date.now() < deadline) {
      try {
        const pid = await this.api.ping();
        if (pid !== notPid) return pid;
        last = "the old worker still answers";
      } catch (e) {
        last = (e as Error).message;
      }
      await sleep(50);
    }
    throw new Error(
      `HAProxy's admin socket ${this.socketPath} did not answer within ${timeoutMs} ms: ${last}`,
    );
  }

  private async reload(routes: RouteEntry[]): Promise<void> {
    const text = this.renderConfig(routes);
    const master = this.masterPid();
    if (master === undefined && !(await this.running())) {
      writeFileAtomic(this.routesFile, `${JSON.stringify(routes, null, 2)}\n`, 0o600);
      await this.start();
      return;
    }
    if (master === undefined && !this.o.unit)
      throw new Error(
        `HAProxy answers on ${this.socketPath} but ${this.pidFile} names no master process of ${this.configPath}`,
      );
    const before = await this.waitForWorker(10_000);
    writeFileAtomic(this.stateFile, await this.api.serverStateText(), 0o600);
    const staged = `${this.configPath}.new`;
    writeFileAtomic(staged, text, 0o644);
    await checkHaproxyConfig(staged, this.o.haproxyBin);
    writeFileAtomic(this.configPath, text, 0o644);
    // A master that does not catch SIGUSR2 yet would lose the reload, or die of it (haproxy-master.ts).
    if (master !== undefined) await waitUntilReloadable(master);
    // The routes HAProxy serves, once it was told to load them: a reload that fails before its
    // signal leaves the file as it was, so the next apply reloads again.
    writeFileAtomic(this.routesFile, `${JSON.stringify(routes, null, 2)}\n`, 0o600);
    if (this.o.unit) {
      // The unit's ExecReload checks the file again and signals its master (SIGUSR2).
      await (this.o.systemctl ?? systemctl)(["reload", this.o.unit]);
    } else if (master !== undefined) {
      process.kill(master, "SIGUSR2");
    }
    await this.waitForWorker(10_000, before);
    this.o.log.info({ routes: routes.length }, "proxy configuration reloaded for a route change");
  }

  async ensureRoutes(routes: readonly RouteKey[]): Promise<void> {
    const table = this.routes();
    let changed = false;
    for (const r of routes) {
      const key = routeId(r);
      const held = table.find((t) => routeId(t) === key);
      if (held && held.environmentId !== r.environmentId) {
        throw new RouteConflictError(
          `route ${r.host}${r.path ?? ""} already belongs to environment ${held.environmentId} on this node: give environment ${r.environmentId} another host or path`,
        );
      }
      if (!held) {
        table.push({
          environmentId: r.environmentId,
          host: r.host,
          ...(r.path ? { path: r.path } : {}),
          ...(r.slots !== undefined && r.slots > DEFAULT_SLOTS ? { slots: r.slots } : {}),
        });
        changed = true;
      } else if ((r.slots ?? DEFAULT_SLOTS) > (held.slots ?? DEFAULT_SLOTS)) {
        // More replicas than the backend has slots for: a reload adds slots (the server-state
        // file keeps the serving ones as they are). Slots are never taken away.
        held.slots = r.slots;
        changed = true;
      }
    }
    if (changed) await this.reload(table);
    else await this.start();
  }

  async switchRoute(
    route: RouteKey,
    upstreams: Upstream | readonly Upstream[],
    opts: { parallelism?: number } = {},
  ): Promise<void> {
    const list: readonly Upstream[] = Array.isArray(upstreams) ? upstreams : [upstreams as Upstream];
    const backend = backendName(
      normalizeHost(route.host),
      route.path ? normalizePathPrefix(route.path) : undefined,
    );
    await this.api.switchBackendTo(
      backend,
      list.map((u) => ({ addr: u.host, port: u.port })),
      { drainTimeoutMs: (this.o.drainSeconds ?? 10) * 1000, ...opts },
    );
  }

  async upstreamsOf(route: RouteKey): Promise<Upstream[]> {
    if (!(await this.running())) return [];
    const backend = backendName(
      normalizeHost(route.host),
      route.path ? normalizePathPrefix(route.path) : undefined,
    );
    try {
      return (await this.api.showServers(backend))
        .filter((s) => s.admin === "ready")
        .map((s) => ({ host: s.addr, port: s.port }));
    } catch {
      return [];
    }
  }

  async removeRoute(route: RouteKey): Promise<void> {
    const table = this.routes().filter((t) => routeId(t) !== routeId(route));
    if (table.length !== this.routes().length) await this.reload(table);
  }

  async installCertificates(environmentId: string, bundles: readonly TlsBundle[]): Promise<void> {
    if (!this.o.tls) {
      if (bundles.length > 0)
        this.o.log.warn(
          { environment: environmentId, certificates: bundles.map((b) => b.name) },
          "this node's proxy has no TLS listener (agent config proxy.tls): the release's certificates are not served",
        );
      return;
    }
    await this.certificates.install(environmentId, bundles, await this.running());
  }

  /** Routes of an environment (for teardown). */
  routesOf(environmentId: string): RouteKey[] {
    return this.routes().filter((r) => r.environmentId === environmentId);
  }
}

function routeId(r: { host: string; path?: string }): string {
  return `${normalizeHost(r.host)}${r.path ? normalizePathPrefix(r.path) : ""}`;
}

function splitBind(bind: string): [string, number] {
  const i = bind.lastIndexOf(":");
  const port = Number(bind.slice(i + 1));
  if (i < 0 || !Number.isInteger(port))
    throw new Error(`proxy bind ${JSON.stringify(bind)} must be ADDRESS:PORT`);
  return [bind.slice(0, i), port];
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
