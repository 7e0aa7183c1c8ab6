// The request log of a HAProxy the agent starts itself with no journal (the local node): the
// lines stay in a ring in HAProxy's memory (1 MiB, read with `show events`), and the only file,
// haproxy.log, holds HAProxy's own messages of the current start. Real HAProxy on 127.0.0.1.
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../lib/log";
import { REQUEST_LOG_RING } from "../../node-agent/proxy/haproxy-config";
import { HaproxyControl } from "../../node-agent/proxy/haproxy-control";
import { freePort } from "./support/agent-harness";

const HOST = "log.berth.test";
const route = { environmentId: `log${process.pid}`, host: HOST };
let dir: string;
let port = 0;
let upstream: Server;
let control: HaproxyControl;

function get(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, headers: { host: HOST }, agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end();
  });
}

beforeAll(async () => {
  delete process.env.JOURNAL_STREAM;
  dir = mkdtempSync(join(tmpdir(), "berth-proxy-log-"));
  upstream = createServer((_req, res) => res.end("ok"));
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  port = await freePort();
  control = new HaproxyControl({
    dir,
    bind: `127.0.0.1:${port}`,
    log: createLogger("test", { write: () => undefined }),
    drainSeconds: 1,
  });
  await control.ensureRoutes([route]);
  await control.switchRoute(route, { host: "127.0.0.1", port: (upstream.address() as AddressInfo).port });
});

afterAll(async () => {
  await control?.stop();
  await new Promise((r) => upstream?.close(r));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("the local proxy's request log", () => {
  it("keeps request lines in HAProxy's ring, not in a file in the state folder", async () => {
    for (let i = 0; i < 50; i++) expect(await get(`/req-${i}`)).toBe(200);
    const events = await control.api.command(`show events ${REQUEST_LOG_RING}`);
    expect(events).toContain("GET /req-0 HTTP/1.1");
    expect(events).toContain("GET /req-49 HTTP/1.1");
    // HAProxy's own messages only (none on a clean start), not 50 request lines.
    expect(statSync(join(dir, "haproxy.log")).size).toBeLessThan(1024);
  });
});
