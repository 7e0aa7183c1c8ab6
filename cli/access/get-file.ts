// One HTTP GET whose answer may be a file: written to a local file when it is one (200,
// application/octet-stream, of known length), else its text returned (a JSON outcome, a refusal,
// a proxy's error page). Over plain HTTP or the agent's Unix socket the answer is read from the
// socket into one 1 MiB buffer reused for the whole file and written with plain write(2) calls:
// node's HTTP client with a file stream gave every 64 KiB chunk fresh memory and a trip through
// the thread pool, 1.5-1.9 s of CPU per GiB against 0.67-0.73 s this way (a local sink, load ~5,
// startup included). Over HTTPS the TLS socket's own reads are used (node's client).
import { closeSync, createWriteStream, openSync, writeSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { connect, type NetConnectOpts, type OnReadOpts, type Socket } from "node:net";
import { pipeline } from "node:stream/promises";

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
    let fd: number | undefined;
    let length = 0;
    let got = 0;
    const text: Buffer[] = [];
    let textBytes = 0;
    let settled = false;
    const settle = (f: () => void) => {
      if (settled) return;
      settled = true;
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
      sock.destroy();
      f();
    };
    const body = (chunk: Buffer) => {
      if (!parsed) return;
      if (fd !== undefined) {
        const n = Math.min(chunk.length, length - got);
        let off = 0;
        try {
          while (off < n) off += writeSync(fd, chunk, off, n - off);
        } catch (e) {
          throw new Error(`cannot write ${to}: ${(e as Error).message}`);
        }
        got += n;
        if (got === length) settle(() => resolve({ kind: "file", bytes: got }));
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
              try {
                fd = openSync(to, "w");
              } catch (e) {
                throw new Error(`cannot write ${to}: ${(e as Error).message}`);
              }
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
      else if (fd !== undefined) settle(() => reject(new CutShort(got, length)));
      else answerText();
    });
    sock.on("close", () => {
      if (parsed && fd !== undefined) settle(() => reject(new CutShort(got, length)));
      else if (!parsed) settle(() => reject(new Error("the connection closed before an answer")));
      else answerText();
    });
    sock.on("error", (e) => settle(() => reject(e)));
  });
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
        res.on("data", (c: Buffer) => {
          got += c.length;
        });
        const file = createWriteStream(to);
        let writeFailed: Error | undefined;
        file.once("error", (e) => {
          writeFailed = e;
        });
        pipeline(res, file).then(
          () => (got === length ? resolve({ kind: "file", bytes: got }) : reject(new CutShort(got, length))),
          (e: Error) => {
            const why = writeFailed
              ? new Error(`cannot write ${to}: ${writeFailed.message}`)
              : got < length
                ? new CutShort(got, length)
                : e;
            // Once the file is closed: nothing of this download touches it after the answer.
            if (file.closed) reject(why);
            else file.once("close", () => reject(why));
          },
        );
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
