import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { probeUntilHealthy } from "./http-probe";

let server: Server;
let port = 0;
let calls = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    calls++;
    if (req.url === "/slow-start") {
      res.statusCode = calls > 3 ? 200 : 503;
    } else res.statusCode = req.url === "/health" ? 200 : 500;
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => server.close());

describe("probeUntilHealthy", () => {
  it("passes when the path answers the expected status", async () => {
    const r = await probeUntilHealthy(
      { host: "127.0.0.1", port, path: "/health", status: 200 },
      { timeoutMs: 2000 },
    );
    expect(r.ok).toBe(true);
  });

  it("retries until the service becomes healthy", async () => {
    calls = 0;
    const r = await probeUntilHealthy(
      { host: "127.0.0.1", port, path: "/slow-start", status: 200 },
      { timeoutMs: 5000, intervalMs: 20 },
    );
    expect(r).toMatchObject({ ok: true });
    expect(r.attempts).toBeGreaterThanOrEqual(3);
  });

  it("fails with the last answer when the deadline passes", async () => {
    const r = await probeUntilHealthy(
      { host: "127.0.0.1", port, path: "/broken", status: 200 },
      { timeoutMs: 300, intervalMs: 50 },
    );
    expect(r.ok).toBe(false);
    expect(r.last).toBe("GET /broken answered 500, expected 200");
  });

  it("stops at once when the service is gone, not at the deadline", async () => {
    const t0 = Date.now();
    let asked = 0;
    const r = await probeUntilHealthy(
      { host: "127.0.0.1", port, path: "/broken", status: 200 },
      {
        timeoutMs: 10_000,
        goneEveryMs: 100,
        gone: async () => (++asked >= 2 ? "the container exited (exit code 3)" : undefined),
      },
    );
    expect(r.ok).toBe(false);
    expect(r.last).toBe(
      "the container exited (exit code 3) (last probe: GET /broken answered 500, expected 200)",
    );
    expect(asked).toBe(2);
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it("asks whether the service is gone only while it has not passed", async () => {
    let asked = 0;
    const r = await probeUntilHealthy(
      { host: "127.0.0.1", port, path: "/health", status: 200 },
      { timeoutMs: 2000, goneEveryMs: 0, gone: async () => String(++asked) },
    );
    expect(r.ok).toBe(true);
    expect(asked).toBe(0);
  });
});
