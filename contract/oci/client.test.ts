// resolveDigest when the registry does not answer: a server that accepts and stays silent, a
// closed port, a caller that gives up. Local sockets only (the registry itself: the system test
// test/system/oci-client.test.ts).
import net from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { resolveDigest } from "./client";
import { RegistryTimeoutError, RegistryUnreachableError } from "./errors";

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port));
  });
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  const port = await listen(s);
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe("resolveDigest when the registry does not answer", () => {
  const sockets = new Set<net.Socket>();
  const silent = net.createServer((s) => {
    sockets.add(s);
    s.on("error", () => undefined);
  });

  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => silent.close(() => r()));
  });

  it("times out against a server that never answers", async () => {
    const addr = `127.0.0.1:${await listen(silent)}`;
    const started = Date.now();
    const err = await resolveDigest(`${addr}/x/y:z`, {
      timeoutMs: 300,
      retry: { retries: 1, baseMs: 10, maxMs: 10 },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryTimeoutError);
    expect((err as RegistryTimeoutError).code).toBe("OCI_TIMEOUT");
    expect((err as Error).message).toContain("did not answer within 300 ms (2 attempt(s))");
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("reports an unreachable registry", async () => {
    const port = await freePort();
    const err = await resolveDigest(`127.0.0.1:${port}/x/y:z`, {
      retry: { retries: 1, baseMs: 10, maxMs: 10 },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryUnreachableError);
    expect((err as RegistryUnreachableError).code).toBe("OCI_REGISTRY_UNREACHABLE");
    expect((err as Error).message).toContain("ECONNREFUSED");
  });

  it("stops at once when the caller aborts", async () => {
    const port = await freePort();
    const c = new AbortController();
    c.abort(new Error("caller gave up"));
    await expect(resolveDigest(`127.0.0.1:${port}/x/y:z`, { signal: c.signal })).rejects.toThrow(
      "caller gave up",
    );
  });
});
