// A release channel kept in an S3-compatible bucket (Cloudflare R2, Scaleway Object Storage, or
// versitygw in tests): each key an object under an optional prefix. Path-style addressing, so
// any endpoint works without DNS-per-bucket.
//
// Four calls (GET, PUT, DELETE an object; ListObjectsV2), signed with AWS Signature V4 by `aws4`
// and sent with node:http(s) over kept-alive connections; listings are read with
// fast-xml-parser. Not the AWS SDK: the agent polls this store on 2 GB nodes, and the SDK cost
// the agent ~20 MB resident once loaded (and ~5 MB more just for its source in the bundle);
// node's fetch would have cost ~20 MB as well.
import type { Agent as HttpAgent, IncomingMessage } from "node:http";
import { sign } from "aws4";
import { XMLParser } from "fast-xml-parser";
import type * as z from "zod";
import { backoffDelay, type RetryPolicy } from "../oci/backoff";
import type { s3ChannelAccess } from "./access";
import {
  ChannelObjectTooLargeError,
  type GetOptions,
  MAX_CHANNEL_OBJECT_BYTES,
  MAX_LISTED_KEYS,
} from "./limits";
import type { ChannelStore } from "./store";

/** A bucket channel's location and keys (region and prefix optional), the listing page size and a timeout. */
export type S3ChannelOptions = z.input<typeof s3ChannelAccess> & {
  /** Page size for listings (S3 caps it at 1000); smaller only in tests. */
  pageSize?: number;
  /** Milliseconds one request may take (default 30 s). */
  timeoutMs?: number;
};

export function normalizePrefix(prefix: string | undefined): string {
  const p = (prefix ?? "").replace(/^\/+/, "").replace(/\/+$/, "");
  if (p.split("/").some((part) => part === ".." || part === ".")) {
    throw new Error(`invalid channel prefix ${JSON.stringify(prefix)}`);
  }
  return p === "" ? "" : `${p}/`;
}

function checkKey(key: string): string {
  if (key.split("/").some((part) => part === ".." || part === "." || part === "")) {
    throw new Error(`invalid channel key ${JSON.stringify(key)}`);
  }
  return key;
}

/** An object key as a path of the request (each segment percent-encoded, `/` kept). */
export function objectPath(bucket: string, key: string): string {
  return `/${encodeURIComponent(bucket)}/${key.split("/").map(encodeURIComponent).join("/")}`;
}

/** A failed S3 call: the server's error code (NoSuchKey, AccessDenied, …) and HTTP status. */
export class S3CallError extends Error {
  constructor(
    readonly code: string,
    readonly status: number | undefined,
    message: string,
  ) {
    super(message);
    this.name = code;
  }
}

// htmlEntities: numeric character references too (versitygw writes `'` as &#39;).
const xml = new XMLParser({
  parseTagValue: false,
  htmlEntities: true,
  isArray: (name) => name === "Contents",
});

/** The error an S3 server describes in its XML body (`<Error><Code>…<Message>…`). */
export function parseS3Error(status: number, body: string): S3CallError {
  let code = status === 404 ? "NotFound" : `HTTP${status}`;
  let message = body.slice(0, 200) || `HTTP ${status}`;
  try {
    const e = (xml.parse(body) as { Error?: { Code?: unknown; Message?: unknown } }).Error;
    if (typeof e?.Code === "string") code = e.Code;
    if (typeof e?.Message === "string") message = e.Message;
  } catch {
    // not XML: keep the start of the body
  }
  return new S3CallError(code, status, message);
}

/** One page of a ListObjectsV2 answer: the keys and the token of the next page, if any. */
export function parseListPage(body: string): { keys: string[]; next?: string } {
  const r = (xml.parse(body) as { ListBucketResult?: Record<string, unknown> }).ListBucketResult;
  if (!r) throw new Error(`not a ListBucketResult: ${body.slice(0, 200)}`);
  const contents = (r.Contents as { Key?: unknown }[] | undefined) ?? [];
  const keys = contents.map((c) => c.Key).filter((k): k is string => typeof k === "string");
  const truncated = String(r.IsTruncated) === "true";
  const token = r.NextContinuationToken;
  return { keys, ...(truncated && typeof token === "string" ? { next: token } : {}) };
}

// As the AWS SDK's standard mode: three attempts for throttling, 5xx and network errors.
const RETRY: RetryPolicy = { retries: 2, baseMs: 100, maxMs: 2_000, maxRetryAfterMs: 2_000 };

function retryable(e: unknown): boolean {
  if (e instanceof ChannelObjectTooLargeError) return false;
  if (e instanceof S3CallError)
    return e.status === undefined || e.status >= 500 || e.status === 429 || e.code === "SlowDown";
  return true; // a network error
}

export class S3ChannelStore implements ChannelStore {
  readonly url: string;
  private readonly prefix: string;
  private readonly pageSize: number;
  private readonly endpoint: URL;
  private readonly agent: HttpAgent;
  private readonly request: typeof import("node:http").request;

  constructor(private readonly o: S3ChannelOptions) {
    this.prefix = normalizePrefix(o.prefix);
    this.pageSize = Math.min(1000, Math.max(1, o.pageSize ?? 1000));
    this.url = `s3://${o.bucket}/${this.prefix}`;
    this.endpoint = new URL(o.endpoint);
    // node:https only for an https endpoint (TLS is another ~1 MB resident).
    const mod = (
      this.endpoint.protocol === "https:" ? require("node:https") : require("node:http")
    ) as typeof import("node:http");
    this.agent = new mod.Agent({ keepAlive: true, maxSockets: 8 });
    this.request = mod.request;
  }

  /** One signed request; resolves with the status and body of a 2xx answer, throws S3CallError otherwise. */
  private once(
    method: string,
    path: string,
    body?: string | Buffer,
    headers: Record<string, string> = {},
    /** The answer's cap: a larger one is cut off (its announced length, or as it streams in). */
    limit: { key: string; maxBytes: number } = { key: path, maxBytes: MAX_CHANNEL_OBJECT_BYTES },
  ) {
    const base = this.endpoint.pathname.replace(/\/+$/, "");
    const opts = sign(
      {
        method,
        host: this.endpoint.host,
        path: base + path,
        service: "s3",
        region: this.o.region ?? "auto",
        headers: { ...headers },
        ...(body !== undefined ? { body } : {}),
      },
      { accessKeyId: this.o.accessKeyId, secretAccessKey: this.o.secretAccessKey },
    );
    return new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = this.request(
        {
          protocol: this.endpoint.protocol,
          hostname: this.endpoint.hostname,
          port: this.endpoint.port || undefined,
          method,
          path: opts.path,
          headers: opts.headers as Record<string, string>,
          agent: this.agent,
          timeout: this.o.timeoutMs ?? 30_000,
        },
        (res: IncomingMessage) => {
          const chunks: Buffer[] = [];
          let received = 0;
          const tooLarge = (size: number) => {
            res.destroy();
            reject(new ChannelObjectTooLargeError(limit.key, size, limit.maxBytes));
          };
          const announced = Number(res.headers["content-length"]);
          if (Number.isFinite(announced) && announced > limit.maxBytes) {
            tooLarge(announced);
            return;
          }
          res.on("data", (c: Buffer) => {
            received += c.length;
            if (received > limit.maxBytes) tooLarge(received);
            else chunks.push(c);
          });
          res.on("error", reject);
          res.on("end", () => {
            const status = res.statusCode ?? 0;
            const text = Buffer.concat(chunks).toString("utf8");
            if (status >= 200 && status < 300) resolve({ status, body: text });
            else reject(parseS3Error(status, text));
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error(`no answer within ${this.o.timeoutMs ?? 30_000} ms`)));
      req.on("error", reject);
      req.end(body);
    });
  }

  private async call(
    method: string,
    path: string,
    body?: string | Buffer,
    headers?: Record<string, string>,
    limit?: { key: string; maxBytes: number },
  ) {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.once(method, path, body, headers, limit);
      } catch (e) {
        if (attempt >= RETRY.retries || !retryable(e)) throw e;
        await new Promise((r) => setTimeout(r, backoffDelay(attempt, RETRY)));
      }
    }
  }

  private describe(op: string, key: string, e: unknown): Error {
    const status = e instanceof S3CallError ? e.status : undefined;
    const name = e instanceof S3CallError ? e.code : ((e as Error)?.name ?? "error");
    return new Error(
      `S3 channel ${this.o.endpoint} bucket ${this.o.bucket}: ${op} ${JSON.stringify(this.prefix + key)} failed: ` +
        `${name}${status ? ` (HTTP ${status})` : ""}: ${(e as Error)?.message ?? String(e)}`,
    );
  }

  async get(key: string, o: GetOptions = {}): Promise<string | undefined> {
    const k = this.prefix + checkKey(key);
    try {
      const limit = { key, maxBytes: o.maxBytes ?? MAX_CHANNEL_OBJECT_BYTES };
      return (await this.call("GET", objectPath(this.o.bucket, k), undefined, {}, limit)).body;
    } catch (e) {
      if (e instanceof ChannelObjectTooLargeError) throw e;
      if (e instanceof S3CallError && (e.status === 404 || e.code === "NoSuchKey")) return undefined;
      throw this.describe("get", key, e);
    }
  }

  async put(key: string, body: string | Buffer): Promise<void> {
    const k = this.prefix + checkKey(key);
    try {
      await this.call("PUT", objectPath(this.o.bucket, k), body, {
        "Content-Type": key.endsWith(".json") ? "application/json" : "application/octet-stream",
      });
    } catch (e) {
      throw this.describe("put", key, e);
    }
  }

  /** All keys starting with `prefix` (relative to the channel's own prefix), sorted; follows pages. */
  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    let token: string | undefined;
    try {
      do {
        const query = new URLSearchParams({
          "list-type": "2",
          prefix: this.prefix + prefix,
          "max-keys": String(this.pageSize),
          ...(token ? { "continuation-token": token } : {}),
        });
        const page = parseListPage(
          (await this.call("GET", `/${encodeURIComponent(this.o.bucket)}?${query}`)).body,
        );
        for (const k of page.keys) out.push(k.slice(this.prefix.length));
        if (out.length > MAX_LISTED_KEYS)
          throw new Error(
            `more than ${MAX_LISTED_KEYS} keys under ${JSON.stringify(this.prefix + prefix)}: not listed (a channel writer's junk?)`,
          );
        token = page.next;
      } while (token);
    } catch (e) {
      throw this.describe("list", prefix, e);
    }
    return out.sort();
  }

  async delete(key: string): Promise<void> {
    const k = this.prefix + checkKey(key);
    try {
      await this.call("DELETE", objectPath(this.o.bucket, k));
    } catch (e) {
      if (e instanceof S3CallError && e.status === 404) return;
      throw this.describe("delete", key, e);
    }
  }

  destroy(): void {
    this.agent.destroy();
  }
}
