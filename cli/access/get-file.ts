// One HTTP GET whose answer may be a file: written to a local file when it is one (200,
// application/octet-stream, of known length), else its text returned (a JSON outcome, a refusal,
// a proxy's error page). Over plain HTTP or the agent's Unix socket the answer is read from the
// socket into one 1 MiB buffer reused for the whole file and written with plain write(2) calls
// (small reads gathered first, GatheredFile):
// node's HTTP client with a file stream gave every 64 KiB chunk fresh memory and a trip through
// the thread pool, 1.5-1.9 s of CPU per GiB against 0.67-0.73 s this way (a local sink, load ~5,
// startup included). Over HTTPS node's client reads the TLS socket (a chunk per TLS record, 16 KiB
// at most), and the chunks are gathered into one reused 1 MiB buffer written with write(2): piped
// into a file stream, each chunk was a write through the thread pool, ~65,000 per GiB.
import { closeSync, openSync, writeSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { connect, type NetConnectOpts, type OnReadOpts, type Socket } from "node:net";

export type GetAnswer =
  | { kind: "file"; bytes: number }
  | { kind: "text"; status: number; headers: Record<string, string>; text: string };

export class CutShort extends Error {
  constructor(
    readonly got: number,
    readonly length: number,
  ) {
    super(`${got} of ${length} bytes came`);
  }
}

/** The most a non-file answer may hold. */
const MAX_TEXT_BYTES = 1024 * 1024;
const BUFFER_BYTES = 1024 * 1024;

interface Head {
  status: number;
  headers: Record<string, string>;
}

function parseHead(text: string): Head {
  const [line = "", ...rest] = text.split("\r\n");
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(line)?.[1] ?? Number.NaN);
  if (!Number.isInteger(status)) throw new Error(`not an HTTP answer: ${JSON.stringify(line.slice(0, 80))}`);
  const headers: Record<string, string> = {};
  for (const l of rest) {
    const at = l.indexOf(":");
    if (at > 0) headers[l.slice(0, at).trim().toLowerCase()] = l.slice(at + 1).trim();
  }
  return { status, headers };
}

/** A chunked body's data (as much of it as is whole). */
function dechunk(raw: Buffer): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = raw.indexOf("\r\n", at);
    if (eol < 0) break;
    const size = Number.parseInt(raw.subarray(at, eol).toString("latin1"), 16);
    if (!Number.isInteger(size) || size <= 0) break;
    out.push(raw.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(out);
}

const isFile = (h: Head) =>
  h.status === 200 &&
  (h.headers["content-type"] ?? "").startsWith("application/octet-stream") &&
  /^\d+$/.test(h.headers["content-length"] ?? "");

/**
 * GETs `path` from `url` (`http://…`, `https://…` or `unix:SOCKET`) with `headers`; a file answer
 * goes to `to` (created only then). Rejects with CutShort when the file's answer ends before its
 * length, and with the error when `to` cannot be written.
 */
export function getFile(
  url: string,
  path: string,
  headers: Record<string, string>,
  to: string,
): Promise<GetAnswer> {
  if (url.startsWith("https:")) return getOverHttps(new URL(path, url), headers, to);
  if (url.startsWith("unix:"))
    return getRaw({ path: url.slice("unix:".length) }, "localhost", path, headers, to);
  const u = new URL(url);
  return getRaw(
    { host: u.hostname.replace(/^\[|\]$/g, ""), port: Number(u.port || 80) },
    u.host,
    new URL(path, url).pathname,
    headers,
    to,
  );
}

function getRaw(
  where: { path: string } | { host: string; port: number },
  host: string,
  path: string,
  headers: Record<string, string>,
  to: string,
): Promise<GetAnswer> {
  return new Promise((resolve, reject) => {
    const buffer = Buffer.allocUnsafeSlow(BUFFER_BYTES);
    let head = Buffer.alloc(0);
    let parsed: Head | undefined;
    let file: GatheredFile | undefined;
    let length = 0;
    let got = 0;
    const text: Buffer[] = [];
    let textBytes = 0;
    let settled = false;
    const settle = (f: () => void) => {
      if (settled) return;
      settled = true;
      file?.close();
      file = undefined;
      sock.destroy();
      f();
    };
    const body = (chunk: Buffer) => {
      if (!parsed) return;
      if (file) {
        const n = Math.min(chunk.length, length - got);
        file.write(n === chunk.length ? chunk : chunk.subarray(0, n));
        got += n;
        if (got === length) {
          file.flush();
          settle(() => resolve({ kind: "file", bytes: got }));
        }
        return;
      }
      if (textBytes < MAX_TEXT_BYTES) {
        const part = Buffer.from(chunk.subarray(0, MAX_TEXT_BYTES - textBytes));
        text.push(part);
        textBytes += part.length;
      }
      const declared = Number(parsed.headers["content-length"] ?? Number.NaN);
      if (Number.isInteger(declared) && textBytes >= declared) answerText();
    };
    const answerText = () => {
      const h = parsed as Head;
      const raw = Buffer.concat(text);
      const plain = /chunked/i.test(h.headers["transfer-encoding"] ?? "") ? dechunk(raw) : raw;
      settle(() =>
        resolve({
          kind: "text",
          status: h.status,
          headers: h.headers,
          text: plain.toString("utf8"),
        }),
      );
    };
    const onread: OnReadOpts = {
      buffer,
      callback: (n: number) => {
        if (settled) return false;
        try {
          let chunk = buffer.subarray(0, n);
          if (!parsed) {
            head = Buffer.concat([head, chunk]);
            const at = head.indexOf("\r\n\r\n");
            if (at < 0) {
              if (head.length > 64 * 1024) throw new Error("the answer's head is too long");
              return true;
            }
            parsed = parseHead(head.subarray(0, at).toString("latin1"));
            chunk = head.subarray(at + 4);
            if (isFile(parsed)) {
              length = Number(parsed.headers["content-length"]);
              file = new GatheredFile(to);
              if (length === 0) {
                settle(() => resolve({ kind: "file", bytes: 0 }));
                return false;
              }
            }
          }
          if (chunk.length > 0) body(chunk);
        } catch (e) {
          settle(() => reject(e));
          return false;
        }
        return !settled;
      },
    };
    const sock: Socket = connect({ ...where, onread } as NetConnectOpts);
    sock.on("connect", () => {
      const lines = [`GET ${path} HTTP/1.1`, `host: ${host}`, "connection: close"];
      for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
      sock.write(`${lines.join("\r\n")}\r\n\r\n`);
    });
    sock.on("end", () => {
      if (!parsed) settle(() => reject(new Error("the connection closed before an answer")));
      else if (file) settle(() => reject(new CutShort(got, length)));
      else answerText();
    });
    sock.on("close", () => {
      if (parsed && file) settle(() => reject(new CutShort(got, length)));
      else if (!parsed) settle(() => reject(new Error("the connection closed before an answer")));
      else answerText();
    });
    sock.on("error", (e) => settle(() => reject(e)));
  });
}

/**
 * A file written with write(2) from small chunks gathered into one reused buffer (a chunk as large
 * as a quarter of it, with none waiting, is written as it is). Throws, saying which file, when a
 * write fails.
 */
class GatheredFile {
  private readonly fd: number;
  private readonly buffer = Buffer.allocUnsafeSlow(BUFFER_BYTES);
  private held = 0;

  constructor(private readonly path: string) {
    try {
      this.fd = openSync(path, "w");
    } catch (e) {
      throw new Error(`cannot write ${path}: ${(e as Error).message}`);
    }
  }

  write(chunk: Buffer): void {
    if (this.held === 0 && chunk.length >= BUFFER_BYTES / 4) {
      this.writeAll(chunk);
      return;
    }
    let at = 0;
    while (at < chunk.length) {
      const n = chunk.copy(this.buffer, this.held, at);
      this.held += n;
      at += n;
      if (this.held === BUFFER_BYTES) this.flush();
    }
  }

  /** Writes what is held. */
  flush(): void {
    const held = this.held;
    this.held = 0;
    if (held > 0) this.writeAll(this.buffer.subarray(0, held));
  }

  close(): void {
    closeSync(this.fd);
  }

  private writeAll(b: Buffer): void {
    try {
      for (let off = 0; off < b.length; ) off += writeSync(this.fd, b, off, b.length - off);
    } catch (e) {
      throw new Error(`cannot write ${this.path}: ${(e as Error).message}`);
    }
  }
}

function getOverHttps(u: URL, headers: Record<string, string>, to: string): Promise<GetAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(u, { method: "GET", headers }, (res) => {
      const h: Head = {
        status: res.statusCode ?? 0,
        headers: Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, String(v)])),
      };
      if (isFile(h)) {
        const length = Number(h.headers["content-length"]);
        let got = 0;
        let file: GatheredFile | undefined;
        const settle = (why?: Error) => {
          if (!file) return;
          const f = file;
          file = undefined;
          try {
            if (!why) f.flush();
          } catch (e) {
            why = e as Error;
          } finally {
            f.close();
          }
          res.destroy();
          if (why) reject(why);
          else resolve({ kind: "file", bytes: got });
        };
        try {
          file = new GatheredFile(to);
        } catch (e) {
          res.destroy();
          reject(e);
          return;
        }
        if (length === 0) {
          settle();
          return;
        }
        res.on("data", (c: Buffer) => {
          if (!file) return;
          const n = Math.min(c.length, length - got);
          try {
            file.write(n === c.length ? c : c.subarray(0, n));
          } catch (e) {
            return settle(e as Error);
          }
          got += n;
          if (got === length) settle();
        });
        res.on("end", () => settle(new CutShort(got, length)));
        res.on("close", () => settle(new CutShort(got, length)));
        res.on("error", () => settle(new CutShort(got, length)));
        return;
      }
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({
          kind: "text",
          status: h.status,
          headers: h.headers,
          text: Buffer.concat(chunks).toString("utf8"),
        }),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}
