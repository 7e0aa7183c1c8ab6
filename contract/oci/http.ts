// The client's one way to make an HTTP request: a time limit per attempt (AbortSignal), bounded
// retries with backoff on 429/5xx and network failures (honouring Retry-After), the body read
// in full under the same time limit, and typed errors when the retries are spent.
import { isRetryableStatus, type RetryPolicy, retryDelay, sleep } from "./backoff";
import { RegistryResponseError, RegistryTimeoutError, RegistryUnreachableError } from "./errors";

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export interface TransportOptions {
  fetch: FetchLike;
  /** Per attempt, from sending the request to the last byte of the body. */
  timeoutMs: number;
  retry: RetryPolicy;
  /** Cancels everything at once; its reason is rethrown as is, never retried. */
  signal?: AbortSignal;
  random?: () => number;
  /** Bodies above this are refused (manifests are at most 4 MiB in distribution). */
  maxBodyBytes?: number;
}

export interface HttpResult {
  status: number;
  headers: Headers;
  body: Buffer;
}

const DEFAULT_MAX_BODY = 4 * 1024 * 1024;

/** A URL fit for an error message: never user-info, never a query string. */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return "<invalid URL>";
  }
}

/** What a failed fetch says about why, without anything from the request (no headers). */
function networkDetail(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  if (cause && typeof cause.code === "string") return cause.code;
  if (cause && typeof cause.message === "string") return cause.message;
  return err instanceof Error ? err.message : String(err);
}

async function readBody(res: Response, max: number, url: string): Promise<Buffer> {
  if (!res.body) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > max) {
      await res.body.cancel().catch(() => undefined);
      throw new RegistryResponseError(displayUrl(url), res.status, `the answer is larger than ${max} bytes`);
    }
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

type Attempt =
  | { kind: "response"; result: HttpResult }
  | { kind: "timeout" }
  | { kind: "network"; detail: string };

async function attempt(
  url: string,
  init: { method: string; headers: Record<string, string> },
  opts: TransportOptions,
): Promise<Attempt> {
  if (opts.signal?.aborted) throw opts.signal.reason;
  const ctrl = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ctrl.abort(new Error("timeout"));
  }, opts.timeoutMs);
  const onAbort = () => ctrl.abort(opts.signal?.reason);
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const res = await opts.fetch(url, { method: init.method, headers: init.headers, signal: ctrl.signal });
    const body = await readBody(res, opts.maxBodyBytes ?? DEFAULT_MAX_BODY, url);
    return { kind: "response", result: { status: res.status, headers: res.headers, body } };
  } catch (err) {
    if (opts.signal?.aborted) throw opts.signal.reason;
    if (timedOut) return { kind: "timeout" };
    if (err instanceof RegistryResponseError) throw err;
    return { kind: "network", detail: networkDetail(err) };
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener("abort", onAbort);
  }
}

/**
 * Sends a request, retrying 429/5xx answers, timeouts and network failures up to
 * `retry.retries` times. Returns the last answer (any status) once it is not retryable or the
 * retries are spent; throws RegistryTimeoutError or RegistryUnreachableError when no answer came.
 */
export async function send(
  url: string,
  init: { method: string; headers: Record<string, string> },
  opts: TransportOptions,
): Promise<HttpResult> {
  const attempts = opts.retry.retries + 1;
  for (let n = 0; ; n++) {
    const a = await attempt(url, init, opts);
    const last = n + 1 >= attempts;
    if (a.kind === "response") {
      if (last || !isRetryableStatus(a.result.status)) return a.result;
      await sleep(retryDelay(n, a.result.headers.get("retry-after"), opts.retry, opts.random), opts.signal);
      continue;
    }
    if (last) {
      if (a.kind === "timeout") throw new RegistryTimeoutError(displayUrl(url), n + 1, opts.timeoutMs);
      throw new RegistryUnreachableError(displayUrl(url), n + 1, a.detail);
    }
    await sleep(retryDelay(n, undefined, opts.retry, opts.random), opts.signal);
  }
}
