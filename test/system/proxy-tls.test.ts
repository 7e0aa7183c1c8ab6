// TLS on the node proxy for real: HAProxy with an HTTPS listener, certificates installed,
// renewed and removed through the runtime API while a keep-alive HTTPS connection stays open,
// and read back from disk after a restart. Everything on 127.0.0.1; no Docker.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { Agent, request } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import type { TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseTlsBundle, type TlsBundle } from "../../contract/release/tls";
import { makeTestCertificate, type TestCertificate } from "../../contract/release/tls-testing";
import { createLogger } from "../../lib/log";
import { HaproxyControl } from "../../node-agent/proxy/haproxy-control";
import { RuntimeApiError } from "../../node-agent/proxy/runtime-api";
import { freePort } from "./support/agent-harness";

const HOST = "app.berth.test";
const ENV = `tls${process.pid}`;
const route = { environmentId: ENV, host: HOST };

let dir: string;
let control: HaproxyControl;
let upstream: Server;
let tlsPort = 0;
const logLines: string[] = [];
let first: TestCertificate;
let second: TestCertificate;

interface Answer {
  body: string;
  fingerprint: string;
  subject: string;
  reused: boolean;
}

/** One HTTPS request through the proxy with SNI `servername` (certificates are self-signed). */
function get(servername: string, agent?: Agent): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port: tlsPort,
        path: "/",
        servername,
        headers: { host: servername },
        rejectUnauthorized: false,
        agent: agent ?? false,
      },
      (res) => {
        const socket = res.socket as TLSSocket & { berthUsed?: number };
        const cert = socket.getPeerCertificate();
        const reused = (socket.berthUsed ?? 0) > 0;
        socket.berthUsed = (socket.berthUsed ?? 0) + 1;
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d) => {
          body += d;
        });
        res.on("end", () =>
          resolve({ body, fingerprint: cert.fingerprint256, subject: String(cert.subject.CN), reused }),
        );
      },
    );
    req.on("error", reject);
    req.end();
  });
}

const bundle = (name: string, c: TestCertificate): TlsBundle => parseTlsBundle(name, c.bundle);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "berth-proxy-tls-"));
  [first, second] = await Promise.all([
    makeTestCertificate([HOST]),
    makeTestCertificate([HOST, `*.${HOST}`]),
  ]);
  upstream = createServer((req, res) => {
    req.resume();
    req.on("end", () => res.end(`hello from ${req.headers["x-forwarded-proto"]}`));
  });
  upstream.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  tlsPort = await freePort();
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logLines.push(String(chunk));
      cb();
    },
  });
  control = new HaproxyControl({
    dir,
    bind: `127.0.0.1:${await freePort()}`,
    tls: { bind: `127.0.0.1:${tlsPort}` },
    log: createLogger("test", sink),
    drainSeconds: 1,
  });
  await control.ensureRoutes([route]);
  await control.switchRoute(route, [{ host: "127.0.0.1", port: (upstream.address() as AddressInfo).port }]);
});

afterAll(async () => {
  await control?.stop();
  await new Promise((r) => upstream?.close(r));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("TLS on the node proxy", () => {
  it("serves a self-signed default certificate until a release brings one", async () => {
    const a = await get(HOST);
    expect(a.subject).toBe("berth-default");
    expect(a.body).toBe("hello from https");
  });

  it("installs, renews and removes certificates without a reload or a dropped connection", async () => {
    const pid = await control.api.ping();
    await control.installCertificates(ENV, [bundle("app", first)]);
    const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 });
    const a = await get(HOST, keepAlive);
    expect(a.fingerprint).toBe(bundle("app", first).fingerprint);
    expect(a.body).toBe("hello from https");
    expect((await get("unknown.berth.test")).subject).toBe("berth-default");

    // Renewal: new handshakes get the new certificate; the open connection keeps working.
    await control.installCertificates(ENV, [bundle("app", second)]);
    expect((await get(HOST)).fingerprint).toBe(bundle("app", second).fingerprint);
    expect((await get(`v1.${HOST}`)).fingerprint).toBe(bundle("app", second).fingerprint);
    const again = await get(HOST, keepAlive);
    expect(again.reused).toBe(true);
    expect(again.fingerprint).toBe(bundle("app", first).fingerprint); // the same TLS session
    expect(await control.api.ping()).toBe(pid); // no reload: the same worker answers
    keepAlive.destroy();

    const file = control.certificates.fileOf(ENV, "app");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(control.certificates.crtList, "utf8")).toBe(`${file}\n`);
    expect(logLines.join("")).not.toContain("PRIVATE KEY");
  });

  it("keeps serving the installed certificate when HAProxy refuses a broken one", async () => {
    const before = (await get(HOST)).fingerprint;
    const file = control.certificates.fileOf(ENV, "app");
    const broken = `${second.certificate}${first.key}`; // the key of another certificate
    const err = await control.api.setCertificate(file, broken, false).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RuntimeApiError);
    expect((err as Error).message).not.toContain("PRIVATE KEY");
    expect((await get(HOST)).fingerprint).toBe(before);
  });

  it("reads its certificates back from disk after a restart", async () => {
    await control.stop();
    await control.start();
    expect((await get(HOST)).fingerprint).toBe(bundle("app", second).fingerprint);
  });

  it("removes an environment's certificates, at run time and on disk", async () => {
    await control.installCertificates(ENV, []);
    expect((await get(HOST)).subject).toBe("berth-default");
    expect(existsSync(control.certificates.fileOf(ENV, "app"))).toBe(false);
    expect(readFileSync(control.certificates.crtList, "utf8")).toBe("");
    expect(await control.api.certificateNames()).not.toContain(control.certificates.fileOf(ENV, "app"));
  });
});
