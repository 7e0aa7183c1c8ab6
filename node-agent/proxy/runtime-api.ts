// A client for HAProxy's runtime API on its admin socket (`stats socket ... level admin`).
//
// One command per connection: connect, write the command and a newline, read until HAProxy
// closes. That is HAProxy's non-interactive mode; it needs no prompt parsing, a failed or hung
// command cannot leave the next one reading a stale answer, and the cost (a unix socket
// connect) is far below a millisecond. Commands are built only from validated names and
// numbers, so nothing a caller passes can smuggle a second command (`;` or a newline).
import { createConnection } from "node:net";
import { assertHaproxyName } from "./names";
import {
  type AdminState,
  cliErrorText,
  mergeServerStatus,
  parseServersState,
  parseStatCsv,
  planBatch,
  planSwitch,
  type ServerStatus,
  type SwitchTarget,
  slotReadiness,
} from "./runtime-api-parse";

export class RuntimeApiError extends Error {
  constructor(
    message: string,
    readonly command: string,
    /** HAProxy's own answer, when it gave one. */
    readonly output?: string,
  ) {
    super(message);
    this.name = "RuntimeApiError";
  }
}

export interface RuntimeApiOptions {
  socketPath: string;
  /** Bound of one command (connect, write, read to the end). Default 5 s. */
  timeoutMs?: number;
}

export interface DrainResult {
  drained: boolean;
  sessions: number;
  waitedMs: number;
}

export interface SwitchOptions {
  /** How long the new slot may take to be UP (with checks: about (fall-1) × inter). Default 30 s. */
  upTimeoutMs?: number;
  /** How long old slots may keep sessions before they are parked in maint anyway. Default 30 s. */
  drainTimeoutMs?: number;
  pollMs?: number;
}

export interface SwitchResult {
  backend: string;
  /** The slot that now serves the target. */
  slot: string;
  /** Slots that were drained and are now in maintenance. */
  drained: string[];
  /** Sessions still open on a drained slot when its drain timed out (0 after a clean drain). */
  sessionsLeft: number;
  changed: boolean;
}

export class HaproxyRuntimeApi {
  readonly socketPath: string;
  private readonly timeoutMs: number;

  constructor(opts: RuntimeApiOptions) {
    this.socketPath = opts.socketPath;
    this.timeoutMs = opts.timeoutMs ?? 5_000;
  }

  /**
   * Sends one command and returns HAProxy's raw answer (no error detection). A payload (a PEM
   * bundle for `set ssl cert`) follows the command as `<<`, ended by an empty line; it never
   * appears in an error.
   */
  execute(command: string, payload?: string): Promise<string> {
    if (/[\n\r]/.test(command)) throw new RuntimeApiError("a command must be one line", command);
    const lines = payload?.replace(/\r/g, "").trim();
    if (lines !== undefined && (lines === "" || lines.includes("\n\n")))
      throw new RuntimeApiError("a payload must be non-empty lines with no empty line among them", command);
    const text = lines === undefined ? `${command}\n` : `${command} <<\n${lines}\n\n`;
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      const sock = createConnection(this.socketPath);
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new RuntimeApiError(`'${command}': no answer within ${this.timeoutMs} ms`, command));
      }, this.timeoutMs);
      sock.on("connect", () => sock.end(text));
      sock.on("data", (d: Buffer) => chunks.push(d));
      sock.on("error", (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new RuntimeApiError(this.describeSocketError(e), command));
      });
      sock.on("close", (hadError) => {
        clearTimeout(timer);
        if (!hadError) resolve(Buffer.concat(chunks).toString("utf8"));
      });
    });
  }

  /** Sends a command and throws a RuntimeApiError carrying HAProxy's text if it failed. */
  async command(command: string): Promise<string> {
    const out = await this.execute(command);
    const err = cliErrorText(out);
    if (err !== undefined) throw new RuntimeApiError(`HAProxy refused '${command}': ${err}`, command, out);
    return out;
  }

  /** Resolves when HAProxy answers on the socket (`show info`); returns its worker pid. */
  async ping(): Promise<number> {
    const out = await this.command("show info");
    const m = /^Pid:\s*(\d+)/m.exec(out);
    if (!m)
      throw new RuntimeApiError(`unexpected answer to 'show info': ${out.slice(0, 200)}`, "show info", out);
    return Number(m[1]);
  }

  async showServers(backend: string): Promise<ServerStatus[]> {
    assertHaproxyName("backend", backend);
    const state = parseServersState(await this.command(`show servers state ${backend}`));
    const stat = parseStatCsv(await this.command(`show stat ${backend} 4 -1`));
    return mergeServerStatus(state, stat);
  }

  async setServerAddr(backend: string, server: string, addr: string, port: number): Promise<void> {
    assertHaproxyName("backend", backend);
    assertHaproxyName("server", server);
    if (!/^[0-9a-fA-F.:]+$/.test(addr))
      throw new Error(`server address ${JSON.stringify(addr)} is not an IP`);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`port ${port} is out of range`);
    const cmd = `set server ${backend}/${server} addr ${addr} port ${port}`;
    const out = await this.command(cmd);
    if (!/changed|no need to change/.test(out)) {
      throw new RuntimeApiError(`HAProxy refused '${cmd}': ${out.trim()}`, cmd, out);
    }
  }

  async setServerState(backend: string, server: string, state: AdminState): Promise<void> {
    assertHaproxyName("backend", backend);
    assertHaproxyName("server", server);
    const cmd = `set server ${backend}/${server} state ${state}`;
    const out = await this.command(cmd);
    // Success is silent; anything else is HAProxy explaining why not.
    if (out.trim() !== "") throw new RuntimeApiError(`HAProxy refused '${cmd}': ${out.trim()}`, cmd, out);
  }

  async server(backend: string, server: string): Promise<ServerStatus> {
    const s = (await this.showServers(backend)).find((x) => x.name === server);
    if (!s)
      throw new RuntimeApiError(
        `backend ${backend} has no server ${server}`,
        `show servers state ${backend}`,
      );
    return s;
  }

  /** Polls until the server has no current session, or the timeout; never throws on timeout. */
  async waitForNoSessions(
    backend: string,
    server: string,
    timeoutMs: number,
    pollMs = 100,
  ): Promise<DrainResult> {
    const start = Date.now();
    for (;;) {
      const s = await this.server(backend, server);
      const waitedMs = Date.now() - start;
      if (s.sessions === 0) return { drained: true, sessions: 0, waitedMs };
      if (waitedMs >= timeoutMs) return { drained: false, sessions: s.sessions, waitedMs };
      await sleep(Math.min(pollMs, Math.max(1, timeoutMs - waitedMs)));
    }
  }

  /**
   * Polls until the server may take traffic (see `slotReadiness`: with health checks, until a
   * check of its current address passed); throws at the timeout or when a check fails.
   */
  async waitForUp(backend: string, server: string, timeoutMs: number, pollMs = 100): Promise<ServerStatus> {
    const start = Date.now();
    for (;;) {
      const s = await this.server(backend, server);
      const r = slotReadiness(s);
      if (r === "up") return s;
      const where = `${backend}/${server} at ${s.addr}:${s.port}`;
      if (r === "down") {
        throw new RuntimeApiError(
          `${where} failed its health check: ${s.check || s.status}`,
          `show stat ${backend} 4 -1`,
        );
      }
      if (Date.now() - start >= timeoutMs) {
        throw new RuntimeApiError(
          `${where} is not UP after ${timeoutMs} ms (status: ${s.status || s.op}${s.check ? `; ${s.check}` : ""})`,
          `show stat ${backend} 4 -1`,
        );
      }
      await sleep(pollMs);
    }
  }

  /**
   * Moves a backend's traffic to `target` without dropping a request: an idle slot gets the
   * target's address and becomes ready; once it is UP, the old slots go to drain (no new
   * requests; open ones finish), and after their sessions end (or `drainTimeoutMs`) to maint.
   * If the new slot does not come UP, it is parked again and the old slots keep serving.
   */
  async switchBackend(
    backend: string,
    target: SwitchTarget,
    opts: SwitchOptions = {},
  ): Promise<SwitchResult> {
    const pollMs = opts.pollMs ?? 100;
    const plan = planSwitch(await this.showServers(backend), target);
    if (plan.kind === "noop") {
      return { backend, slot: plan.slot, drained: [], sessionsLeft: 0, changed: false };
    }
    if (!plan.reuse) {
      await this.setServerAddr(backend, plan.slot, target.addr, target.port);
      await this.setServerState(backend, plan.slot, "ready");
    }
    try {
      await this.waitForUp(backend, plan.slot, opts.upTimeoutMs ?? 30_000, pollMs);
    } catch (e) {
      await this.setServerState(backend, plan.slot, "maint").catch(() => undefined);
      throw e;
    }
    for (const old of plan.drain) await this.setServerState(backend, old, "drain");
    let sessionsLeft = 0;
    for (const old of plan.drain) {
      const r = await this.waitForNoSessions(backend, old, opts.drainTimeoutMs ?? 30_000, pollMs);
      sessionsLeft += r.sessions;
      await this.setServerState(backend, old, "maint");
    }
    return { backend, slot: plan.slot, drained: plan.drain, sessionsLeft, changed: true };
  }

  /**
   * Switches a backend to several servers (a service's replicas), `parallelism` at a time: each
   * batch is UP before as many old servers are drained (see planBatch). One target and no
   * parallelism is switchBackend's switch.
   */
  async switchBackendTo(
    backend: string,
    targets: readonly SwitchTarget[],
    opts: SwitchOptions & { parallelism?: number } = {},
  ): Promise<{ sessionsLeft: number }> {
    if (targets.length === 1 && !opts.parallelism) {
      const r = await this.switchBackend(backend, targets[0] as SwitchTarget, opts);
      return { sessionsLeft: r.sessionsLeft };
    }
    if (targets.length === 0) throw new Error(`no server to switch ${backend} to`);
    const pollMs = opts.pollMs ?? 100;
    let sessionsLeft = 0;
    for (let step = 0; step < 64; step++) {
      const plan = planBatch(await this.showServers(backend), targets, opts.parallelism);
      if (plan.kind === "done") return { sessionsLeft };
      for (const slot of plan.ready) await this.setServerState(backend, slot, "ready");
      for (const a of plan.add) {
        await this.setServerAddr(backend, a.slot, a.target.addr, a.target.port);
        await this.setServerState(backend, a.slot, "ready");
      }
      try {
        for (const a of plan.add) await this.waitForUp(backend, a.slot, opts.upTimeoutMs ?? 30_000, pollMs);
      } catch (e) {
        for (const a of plan.add) await this.setServerState(backend, a.slot, "maint").catch(() => undefined);
        throw e;
      }
      for (const old of plan.drain) await this.setServerState(backend, old, "drain");
      for (const old of plan.drain) {
        const r = await this.waitForNoSessions(backend, old, opts.drainTimeoutMs ?? 30_000, pollMs);
        sessionsLeft += r.sessions;
        await this.setServerState(backend, old, "maint");
      }
    }
    throw new Error(`switching ${backend} did not settle`);
  }

  /**
   * Loads a certificate (PEM: certificate, chain, key) under `name` without a reload: a new
   * name gets an empty store first; the new content replaces the old for new handshakes only.
   */
  async setCertificate(name: string, pem: string, isNew: boolean): Promise<void> {
    assertCertName(name);
    if (isNew) await this.expect(`new ssl cert ${name}`, /New empty certificate store/);
    const set = await this.execute(`set ssl cert ${name}`, pem);
    if (!/Transaction (created|updated)/.test(set)) {
      await this.execute(`abort ssl cert ${name}`).catch(() => undefined);
      throw new RuntimeApiError(
        `HAProxy refused the certificate ${name}: ${firstLines(set)}`,
        `set ssl cert ${name}`,
        set,
      );
    }
    await this.expect(`commit ssl cert ${name}`, /Success!/);
  }

  /** Serves a loaded certificate on the binds that read `crtList` (by SNI). */
  async addToCrtList(crtList: string, name: string): Promise<void> {
    assertCertName(crtList);
    assertCertName(name);
    await this.expect(`add ssl crt-list ${crtList} ${name}`, /Success!/);
  }

  /** Stops serving a certificate and frees it. */
  async removeCertificate(crtList: string, name: string): Promise<void> {
    assertCertName(crtList);
    assertCertName(name);
    const entries = await this.crtListEntries(crtList);
    if (entries.includes(name))
      await this.expect(`del ssl crt-list ${crtList} ${name}`, /deleted in crtlist/);
    if ((await this.certificateNames()).includes(name)) await this.expect(`del ssl cert ${name}`, /deleted!/);
  }

  /** Names of the certificates HAProxy holds (`show ssl cert`). */
  async certificateNames(): Promise<string[]> {
    return listLines(await this.command("show ssl cert"));
  }

  /** The certificates a crt-list serves now (`show ssl crt-list`). */
  async crtListEntries(crtList: string): Promise<string[]> {
    assertCertName(crtList);
    return listLines(await this.command(`show ssl crt-list ${crtList}`)).map(
      (l) => l.split(/\s+/)[0] as string,
    );
  }

  private async expect(command: string, success: RegExp): Promise<string> {
    const out = await this.execute(command);
    if (!success.test(out))
      throw new RuntimeApiError(`HAProxy refused '${command}': ${firstLines(out)}`, command, out);
    return out;
  }

  /** The whole `show servers state`, in the format of a `server-state-file`. */
  async serverStateText(): Promise<string> {
    return this.command("show servers state");
  }

  private describeSocketError(e: NodeJS.ErrnoException): string {
    const p = this.socketPath;
    switch (e.code) {
      case "ENOENT":
        return `HAProxy's admin socket ${p} does not exist: is haproxy running with this configuration?`;
      case "EACCES":
      case "EPERM":
        return `no permission to open HAProxy's admin socket ${p} (mode 600: run as its owner)`;
      case "ECONNREFUSED":
        return `nothing listens on HAProxy's admin socket ${p}: haproxy has stopped (stale socket file)`;
      case "ENOTSOCK":
        return `${p} is not a socket`;
      default:
        return `HAProxy's admin socket ${p}: ${e.message}`;
    }
  }
}

/** A certificate or crt-list name: an absolute path HAProxy can take as one word. */
function assertCertName(name: string): void {
  if (!/^\/[A-Za-z0-9._/-]+$/.test(name))
    throw new RuntimeApiError(
      `not a certificate path HAProxy takes as one word: ${JSON.stringify(name)}`,
      "",
    );
}

function listLines(out: string): string[] {
  return out
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
}

function firstLines(out: string): string {
  return out.trim().split("\n").slice(0, 3).join(" ").slice(0, 300);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
