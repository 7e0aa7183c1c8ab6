// A release channel kept in an S3-compatible bucket (Cloudflare R2, Scaleway Object Storage, or
// versitygw in tests): each key an object under an optional prefix. Path-style addressing, so
// any endpoint works without DNS-per-bucket.
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import type { z } from "zod";
import type { s3ChannelAccess } from "./access";
import type { ChannelStore } from "./store";

/** A bucket channel's location and keys (region and prefix optional), and the listing page size. */
export type S3ChannelOptions = z.input<typeof s3ChannelAccess> & {
  /** Page size for listings (S3 caps it at 1000); smaller only in tests. */
  pageSize?: number;
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

function isNotFound(e: unknown): boolean {
  const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
  return err?.name === "NoSuchKey" || err?.name === "NotFound" || err?.$metadata?.httpStatusCode === 404;
}

export class S3ChannelStore implements ChannelStore {
  readonly url: string;
  private readonly client: S3Client;
  private readonly prefix: string;
  private readonly pageSize: number;

  constructor(private readonly o: S3ChannelOptions) {
    this.prefix = normalizePrefix(o.prefix);
    this.pageSize = Math.min(1000, Math.max(1, o.pageSize ?? 1000));
    this.url = `s3://${o.bucket}/${this.prefix}`;
    this.client = new S3Client({
      endpoint: o.endpoint,
      region: o.region ?? "auto",
      forcePathStyle: true,
      credentials: { accessKeyId: o.accessKeyId, secretAccessKey: o.secretAccessKey },
      // Only checksums the servers all understand (R2, Scaleway and versitygw differ on the newer ones).
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
  }

  private describe(op: string, key: string, e: unknown): Error {
    const err = e as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
    const status = err?.$metadata?.httpStatusCode;
    return new Error(
      `S3 channel ${this.o.endpoint} bucket ${this.o.bucket}: ${op} ${JSON.stringify(this.prefix + key)} failed: ` +
        `${err?.name ?? "error"}${status ? ` (HTTP ${status})` : ""}: ${err?.message ?? String(e)}`,
    );
  }

  async get(key: string): Promise<string | undefined> {
    const k = this.prefix + checkKey(key);
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.o.bucket, Key: k }));
      return r.Body ? await r.Body.transformToString("utf8") : "";
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw this.describe("get", key, e);
    }
  }

  async put(key: string, body: string): Promise<void> {
    const k = this.prefix + checkKey(key);
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.o.bucket,
          Key: k,
          Body: body,
          ContentType: key.endsWith(".json") ? "application/json" : "application/octet-stream",
        }),
      );
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
        const r = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.o.bucket,
            Prefix: this.prefix + prefix,
            MaxKeys: this.pageSize,
            ContinuationToken: token,
          }),
        );
        for (const c of r.Contents ?? []) if (c.Key) out.push(c.Key.slice(this.prefix.length));
        token = r.IsTruncated ? r.NextContinuationToken : undefined;
      } while (token);
    } catch (e) {
      throw this.describe("list", prefix, e);
    }
    return out.sort();
  }

  async delete(key: string): Promise<void> {
    const k = this.prefix + checkKey(key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.o.bucket, Key: k }));
    } catch (e) {
      if (isNotFound(e)) return;
      throw this.describe("delete", key, e);
    }
  }

  destroy(): void {
    this.client.destroy();
  }
}
