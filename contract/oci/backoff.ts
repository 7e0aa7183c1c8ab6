// Retry timing: exponential backoff with jitter, and the Retry-After header (seconds or an
// HTTP date), both bounded, so a flaky or rate-limiting registry is retried a few times and a
// dead one fails in bounded time.

export interface RetryPolicy {
  /** Retries after the first attempt (so attempts = retries + 1). */
  retries: number;
  /** The first retry waits about this long; each later one about twice the one before. */
  baseMs: number;
  /** No backoff delay exceeds this. */
  maxMs: number;
  /** A Retry-After longer than this is cut to this. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  retries: 4,
  baseMs: 250,
  maxMs: 8_000,
  maxRetryAfterMs: 30_000,
};

/**
 * The wait before retry number `retry` (0 for the first retry): "equal jitter", a random point
 * in the upper half of min(maxMs, baseMs * 2^retry), so waits grow and clients spread out.
 */
export function backoffDelay(retry: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, retry));
  const r = Math.min(1, Math.max(0, random()));
  return Math.round(ceiling / 2 + (r * ceiling) / 2);
}

/** Retry-After in milliseconds: `120` (seconds) or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(
  value: string | null | undefined,
  now: number = Date.now(),
): number | undefined {
  if (value === null || value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  if (v === "" || /^[\d.]+$/.test(v)) return undefined;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/** The wait before retry number `retry`: the server's Retry-After when it gave one (capped), else the backoff. */
export function retryDelay(
  retry: number,
  retryAfterHeader: string | null | undefined,
  policy: RetryPolicy,
  random: () => number = Math.random,
  now: number = Date.now(),
): number {
  const asked = parseRetryAfter(retryAfterHeader, now);
  if (asked !== undefined) return Math.min(asked, policy.maxRetryAfterMs);
  return backoffDelay(retry, policy, random);
}

/** Statuses worth retrying: rate limited, and the server-side failures that are usually transient. */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || status === 500 || status === 502 || status === 503 || status === 504;
}

/** Waits `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
