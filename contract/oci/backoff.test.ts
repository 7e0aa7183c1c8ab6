import { describe, expect, it } from "vitest";
import { AuthCache } from "./auth";
import {
  backoffDelay,
  isRetryableStatus,
  parseRetryAfter,
  type RetryPolicy,
  retryDelay,
  sleep,
} from "./backoff";
import { RegistryTimeoutError, RegistryUnreachableError } from "./errors";
import { type FetchLike, send } from "./http";

const policy: RetryPolicy = { retries: 4, baseMs: 100, maxMs: 1_000, maxRetryAfterMs: 5_000 };

describe("backoff schedule", () => {
  it("doubles from the base, capped, with jitter in the upper half", () => {
    expect([0, 1, 2, 3, 4, 5].map((n) => backoffDelay(n, policy, () => 0))).toEqual([
      50, 100, 200, 400, 500, 500,
    ]);
    expect([0, 1, 2, 3, 4, 5].map((n) => backoffDelay(n, policy, () => 1))).toEqual([
      100, 200, 400, 800, 1000, 1000,
    ]);
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(2, policy);
      expect(d).toBeGreaterThanOrEqual(200);
      expect(d).toBeLessThanOrEqual(400);
    }
  });

  it("reads Retry-After as seconds or an HTTP date", () => {
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(parseRetryAfter("3", now)).toBe(3000);
    expect(parseRetryAfter("Thu, 01 Jan 2026 00:00:02 GMT", now)).toBe(2000);
    expect(parseRetryAfter("Wed, 31 Dec 2025 00:00:00 GMT", now)).toBe(0);
    expect(parseRetryAfter("soon", now)).toBeUndefined();
    expect(parseRetryAfter("1.5", now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });

  it("honours Retry-After over the backoff, bounded", () => {
    expect(retryDelay(0, "2", policy, () => 0)).toBe(2000);
    expect(retryDelay(0, "0", policy, () => 0)).toBe(0);
    expect(retryDelay(0, "3600", policy, () => 0)).toBe(5000);
    expect(retryDelay(1, undefined, policy, () => 0)).toBe(100);
  });

  it("retries 429 and transient 5xx only", () => {
    expect([429, 500, 502, 503, 504].every(isRetryableStatus)).toBe(true);
    expect([200, 401, 403, 404, 501, 505].some(isRetryableStatus)).toBe(false);
  });

  it("sleep rejects with the signal's reason when aborted", async () => {
    const c = new AbortController();
    const p = sleep(10_000, c.signal);
    c.abort(new Error("stop"));
    await expect(p).rejects.toThrow("stop");
  });
});

describe("send (injected fetch)", () => {
  const fast: RetryPolicy = { retries: 3, baseMs: 1, maxMs: 2, maxRetryAfterMs: 10 };

  it("retries 503 and 429 and returns the first good answer", async () => {
    const statuses = [503, 429, 200];
    const calls: string[] = [];
    const fetchStub: FetchLike = async (url) => {
      calls.push(url);
      return new Response("ok", { status: statuses.shift() ?? 500, headers: { "retry-after": "0" } });
    };
    const res = await send(
      "http://r/x",
      { method: "GET", headers: {} },
      { fetch: fetchStub, timeoutMs: 1000, retry: fast },
    );
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe("ok");
    expect(calls).toHaveLength(3);
  });

  it("gives up after the retries with the last answer", async () => {
    let n = 0;
    const fetchStub: FetchLike = async () => {
      n++;
      return new Response("", { status: 502 });
    };
    const res = await send(
      "http://r/x",
      { method: "GET", headers: {} },
      { fetch: fetchStub, timeoutMs: 1000, retry: fast },
    );
    expect(res.status).toBe(502);
    expect(n).toBe(4);
  });

  it("turns network failures into RegistryUnreachableError without request details", async () => {
    const fetchStub: FetchLike = async () => {
      throw new TypeError("fetch failed", { cause: { code: "ECONNREFUSED" } });
    };
    const p = send(
      "http://user:pw@r:1/v2/x?secret=1",
      { method: "GET", headers: { authorization: "Basic c2VjcmV0" } },
      { fetch: fetchStub, timeoutMs: 1000, retry: fast },
    );
    await expect(p).rejects.toBeInstanceOf(RegistryUnreachableError);
    const err = (await p.catch((e) => e)) as Error;
    expect(err.message).toContain("ECONNREFUSED");
    expect(err.message).toContain("4 attempt");
    expect(err.message).not.toMatch(/pw|secret|c2VjcmV0/);
  });

  it("times out an attempt that never answers", async () => {
    const fetchStub: FetchLike = (_url, init) =>
      new Promise((_resolve, reject) =>
        init.signal?.addEventListener("abort", () => reject(init.signal?.reason)),
      );
    const p = send(
      "http://r/x",
      { method: "GET", headers: {} },
      {
        fetch: fetchStub,
        timeoutMs: 20,
        retry: { ...fast, retries: 1 },
      },
    );
    await expect(p).rejects.toBeInstanceOf(RegistryTimeoutError);
  });
});

describe("AuthCache", () => {
  it("keeps a token until shortly before it expires", () => {
    let now = 0;
    const cache = new AuthCache(() => now);
    cache.putToken("k", "t", 60);
    now = 53_000;
    expect(cache.getToken("k")).toBe("t");
    now = 54_000; // 60 s less 10% (6 s)
    expect(cache.getToken("k")).toBeUndefined();
  });
});
