// The CLI's side of an access session: sign a token for one request with the operator's key,
// open the WebSocket through the node's proxy, stream stdin/stdout/stderr, return the exit code.
import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import type { WebSocket } from "ws";
import {
  ACCESS_PROTOCOL,
  type AccessAction,
  type AccessTarget,
  actionUnsupported,
  DOWNLOAD_PROTOCOL,
  encodeAccessToken,
  LEGACY_ACCESS_PROTOCOL,
  MAX_PART_BYTES,
  PARTS_PROTOCOL,
  PROTOCOL_HEADER,
  protocolOf,
  requestFor,
  signAccessToken,
  UPLOAD_PROTOCOL,
} from "../../contract/access";
import { UsageError } from "../io";
import { CutShort, getFile } from "./get-file";
import { sendFile } from "./send-file";

export const ACCESS_PATH = "/.berth/access/v1";
/** The local stack's proxy (berth:localHttpPort's default). */
export const DEFAULT_ACCESS_URL = "http://127.0.0.1:8088";

export interface Operator {
  name: string;
  privateKey: string;
}

export class AccessRefused extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly reason: string,
    /** The protocol version the refusing agent named; undefined for an agent of version 1. */
    readonly protocol?: number,
  ) {
    super(`refused (${code}): ${reason}`);
  }
}

export interface Streams {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin?: NodeJS.ReadableStream;
}

export interface NodeInfo {
  nodeId: string;
  /** The agent's access protocol (contract/access/protocol.ts). */
  protocol: number;
}

/**
 * The node behind `url` says its id (unauthenticated: the token is then bound to it) and its
 * agent's access protocol version (1 when it names none).
 */
export async function nodeInfoOf(url: string): Promise<NodeInfo> {
  const res = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = requestTo(url, `${ACCESS_PATH}/node`, { method: "GET" }, (r) => {
      let text = "";
      r.setEncoding("utf8");
      r.on("data", (c: string) => {
        text += c;
      });
      r.on("end", () => resolve({ status: r.statusCode ?? 0, text }));
      r.on("error", reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error("no answer within 10 s")));
    req.on("error", (e) => reject(new Error(`cannot reach the node at ${url}: ${e.message}`)));
    req.end();
  });
  if (res.status !== 200)
    throw new Error(`${url} does not serve berth access (HTTP ${res.status}): is it a berth node's proxy?`);
  let body: { nodeId?: unknown; protocol?: unknown } = {};
  try {
    body = JSON.parse(res.text);
  } catch {}
  if (typeof body.nodeId !== "string") throw new Error(`${url} answered without a node id`);
  return { nodeId: body.nodeId, protocol: protocolOf(body.protocol) ?? LEGACY_ACCESS_PROTOCOL };
}

export interface SessionRequest {
  url: string;
  operator: Operator;
  node?: string;
  target: AccessTarget;
  action: AccessAction;
  request: Record<string, unknown>;
  /** The agent's protocol version, when known already (with `node`). */
  protocol?: number;
}

export interface OpenSession {
  ws: WebSocket;
  /** Sends bytes to the remote standard input. */
  send(chunk: Buffer): void;
  /** Closes the remote standard input. */
  eof(): void;
  resize(cols: number, rows: number): void;
  /** The exit code (or the error the node reported, thrown). */
  done: Promise<number>;
}

/**
 * Opens a session; output goes to `streams` as it arrives. The request is written for the agent's
 * protocol version: the one the node names, or, with --node (no question asked), this CLI's own,
 * and once more for version 1 when an agent that names no version refuses it as malformed.
 */
export async function openSession(r: SessionRequest, streams: Streams): Promise<OpenSession> {
  const info =
    r.node && r.protocol
      ? { nodeId: r.node, protocol: r.protocol }
      : r.node
        ? undefined
        : await nodeInfoOf(r.url);
  const node = r.node ?? (info as NodeInfo).nodeId;
  // An action newer than the agent: said here, before a token is signed for nothing.
  const unsupported = info ? actionUnsupported(r.action, info.protocol) : undefined;
  if (unsupported && info) throw new AccessRefused(426, "UNSUPPORTED", unsupported, info.protocol);
  const attempt = (protocol: number) => openWith(r, node, requestFor(r.action, r.request, protocol), streams);
  if (info) return attempt(info.protocol);
  try {
    return await attempt(ACCESS_PROTOCOL);
  } catch (e) {
    if (!(e instanceof AccessRefused && e.code === "MALFORMED" && e.protocol === undefined)) throw e;
    return attempt(LEGACY_ACCESS_PROTOCOL);
  }
}

async function openWith(
  r: SessionRequest,
  node: string,
  request: Record<string, unknown>,
  streams: Streams,
): Promise<OpenSession> {
  const token = signAccessToken({
    operator: r.operator.name,
    privateKey: r.operator.privateKey,
    node,
    target: r.target,
    action: r.action,
    request,
  });
  const kind = r.target.kind === "environment" ? "environments" : "workspaces";
  const path = `${ACCESS_PATH}/${kind}/${r.target.id}/${r.action}`;
  let address: string;
  if (r.url.startsWith("unix:")) {
    // The agent's socket itself (on the node, or in tests): ws+unix:SOCKET:PATH.
    address = `ws+unix:${r.url.slice("unix:".length)}:${path}`;
  } else {
    const base = new URL(r.url);
    base.protocol = base.protocol === "https:" ? "wss:" : "ws:";
    address = new URL(path, base).toString();
  }
  // Loaded for a session only: an upload or a download (plain HTTP) does without it, and its
  // modules' start (zlib's for permessage-deflate among them) was ~5-10 ms of every `cp`.
  const { WebSocket } = await import("ws");
  const ws = new WebSocket(address, {
    headers: { authorization: encodeAccessToken(token) },
    handshakeTimeout: 15_000,
    // A zero mask: ws then skips XOR-ing every byte sent, on both ends (1 GiB: 8.7 s → 1.6 s in
    // one process). Masking guards browsers' connections against proxy cache poisoning by the
    // page's script; the CLI sends only what its own user asked for, over the node's proxy.
    generateMask: (mask) => void mask.fill(0),
  });
  // Listen for frames before the handshake ends: the first ones can arrive with the 101 answer.
  const done = new Promise<number>((resolve, reject) => {
    let result: { type: string; code?: number; message?: string } | undefined;
    ws.on("message", (data: Buffer, isBinary) => {
      if (isBinary) {
        if (!streams.stdout.write(data)) {
          // A slow destination (a disk, a pipe): stop reading until it drains.
          ws.pause();
          streams.stdout.once("drain", () => ws.resume());
        }
        return;
      }
      let msg: { type: string; code?: number; message?: string; data?: string };
      try {
        msg = JSON.parse(data.toString("utf8"));
      } catch {
        return;
      }
      if (msg.type === "stderr" && typeof msg.data === "string")
        streams.stderr.write(Buffer.from(msg.data, "base64"));
      else result = msg;
    });
    ws.on("close", () => {
      if (result?.type === "exit" && typeof result.code === "number") resolve(result.code);
      else if (result?.type === "error") reject(new Error(`the node reports: ${result.message}`));
      else reject(new Error("the session closed before the node sent an exit code"));
    });
  });
  done.catch(() => {});
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("unexpected-response", (req, res) => {
      let body = "";
      res.on("data", (c: Buffer) => {
        body += c.toString("utf8");
      });
      res.on("end", () => {
        // The refused connection must not linger (a kept-alive socket would keep berth running).
        req.destroy();
        res.socket?.destroy();
        ws.terminate();
        let parsed: { code?: string; reason?: string } = {};
        try {
          parsed = JSON.parse(body);
        } catch {}
        reject(
          new AccessRefused(
            res.statusCode ?? 0,
            parsed.code ?? `HTTP_${res.statusCode}`,
            parsed.reason ?? (body.trim() || "the node's proxy refused the request"),
            protocolOf(res.headers[PROTOCOL_HEADER]),
          ),
        );
      });
    });
    ws.once("error", (e) => reject(new Error(`cannot open the session at ${r.url}: ${e.message}`)));
  });
  return {
    ws,
    send: (chunk) => {
      if (ws.readyState === ws.OPEN) ws.send(chunk, { binary: true });
    },
    eof: () => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ type: "eof" }));
    },
    resize: (cols, rows) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ type: "resize", cols, rows }));
    },
    done,
  };
}

/** An HTTP(S) request to a path of the node's proxy, or of the agent's socket (`unix:SOCKET`). */
function requestTo(
  url: string,
  path: string,
  o: { method: string; headers?: Record<string, string | number> },
  onResponse: (res: IncomingMessage) => void,
) {
  if (url.startsWith("unix:"))
    return httpRequest({ socketPath: url.slice("unix:".length), path, ...o }, onResponse);
  const u = new URL(path, url);
  return (u.protocol === "https:" ? httpsRequest : httpRequest)(u, o, onResponse);
}

/** How long an upload waits for the agent's `100 Continue` before it sends the body anyway. */
const CONTINUE_WAIT_MS = 10_000;

export interface UploadOptions {
  /** The most bytes one request's body holds (MAX_PART_BYTES; tests pass less). */
  partBytes?: number;
}

/**
 * Writes a local file of `size` bytes into a workspace (`berth workspace cp`). An agent of protocol
 * 3 or later takes it as one HTTP PUT whose body is the file (node-agent/access/http-upload.ts);
 * from protocol 7, a file larger than a part (MAX_PART_BYTES, under Cloudflare's 100 MB cap on a
 * request body) goes as a PUT per part, two at a time, the last one alone once the others landed,
 * making the file whole. An older
 * agent, one whose version is unknown, or one that says so (`{"type":"session"}`: it has no
 * relay) takes it in a WebSocket session.
 */
export async function uploadFile(
  r: SessionRequest,
  file: string,
  size: number,
  streams: Streams,
  o: UploadOptions = {},
): Promise<number> {
  const info = await nodeInfoOf(r.url).catch(() => undefined);
  const inSession = async () => {
    const s = await openSession(
      info ? { ...r, node: r.node ?? info.nodeId, protocol: info.protocol } : r,
      streams,
    );
    await pumpStdin(s, createReadStream(file, { highWaterMark: 1024 * 1024 }));
    return await s.done;
  };
  if (!info || info.protocol < UPLOAD_PROTOCOL) return await inSession();
  const partBytes = Math.min(o.partBytes ?? MAX_PART_BYTES, MAX_PART_BYTES);
  if (info.protocol < PARTS_PROTOCOL || size <= partBytes) {
    const outcome = await outcomeOf(await putPart(r, info, r.request, file, 0, size), streams);
    return outcome === "session" ? await inSession() : outcome;
  }
  // In parts: all but the last two at a time (each part's fixed cost, a request, the checks and
  // the relay's start, overlaps the other's bytes), then the last, which makes the file whole.
  const upload = randomBytes(16).toString("hex");
  const parts: { offset: number; length: number }[] = [];
  for (let offset = 0; offset < size; offset += partBytes)
    parts.push({ offset, length: Math.min(partBytes, size - offset) });
  const last = parts.pop() as { offset: number; length: number };
  const send = async (p: { offset: number; length: number }) =>
    await outcomeOf(
      await putPart(
        r,
        info,
        { ...r.request, size: p.length, offset: p.offset, total: size, upload },
        file,
        p.offset,
        p.length,
      ),
      streams,
    );
  let next = 0;
  let stop: number | "session" | undefined;
  let error: unknown;
  const worker = async () => {
    while (stop === undefined && error === undefined && next < parts.length) {
      const p = parts[next++] as { offset: number; length: number };
      try {
        const outcome = await send(p);
        if (outcome !== 0) stop ??= outcome;
      } catch (e) {
        error ??= e;
      }
    }
  };
  await Promise.all([worker(), worker()]);
  if (error !== undefined) throw error;
  if (stop === "session") return await inSession();
  if (stop !== undefined) return stop;
  const outcome = await send(last);
  return outcome === "session" ? await inSession() : outcome;
}

/** What the agent answered a PUT: its exit code (its stderr written out), or "session"; throws on a refusal. */
async function outcomeOf(
  res: { status: number; text: string; protocol?: number },
  streams: Streams,
): Promise<number | "session"> {
  let body: { type?: string; code?: unknown; message?: string; reason?: string; stderr?: string } = {};
  try {
    body = JSON.parse(res.text);
  } catch {}
  if (res.status !== 200)
    throw new AccessRefused(
      res.status,
      typeof body.code === "string" ? body.code : `HTTP_${res.status}`,
      body.reason ?? (res.text.trim() || "the node's proxy refused the request"),
      res.protocol,
    );
  if (body.type === "session") return "session";
  if (body.stderr) streams.stderr.write(Buffer.from(body.stderr, "base64"));
  if (body.type === "exit" && typeof body.code === "number") return body.code;
  throw new Error(`the node reports: ${body.message ?? "no outcome for the upload"}`);
}

/** One PUT of `length` bytes of `file` from `offset`, for `request`; resolves with the agent's answer. */
export async function putPart(
  r: SessionRequest,
  info: NodeInfo,
  request: Record<string, unknown>,
  file: string,
  offset: number,
  length: number,
): Promise<{ status: number; text: string; protocol?: number }> {
  const token = signAccessToken({
    operator: r.operator.name,
    privateKey: r.operator.privateKey,
    node: r.node ?? info.nodeId,
    target: r.target,
    action: r.action,
    request: requestFor(r.action, request, info.protocol),
  });
  const kind = r.target.kind === "environment" ? "environments" : "workspaces";
  const path = `${ACCESS_PATH}/${kind}/${r.target.id}/${r.action}`;
  return await new Promise((resolve, reject) => {
    const stop = new AbortController();
    let unasked: NodeJS.Timeout | undefined;
    const req = requestTo(
      r.url,
      path,
      {
        method: "PUT",
        headers: {
          authorization: encodeAccessToken(token),
          "content-type": "application/octet-stream",
          "content-length": length,
          // The agent says when to send (once it admitted the upload and found where it goes), so
          // a refusal costs no body, and the body can go to the agent's relay untouched.
          expect: "100-continue",
        },
      },
      (answer) => {
        // An answer before the whole body went (a refusal, a path it cannot write): stop sending.
        clearTimeout(unasked);
        stop.abort();
        let text = "";
        answer.setEncoding("utf8");
        answer.on("data", (c: string) => {
          text += c;
        });
        answer.on("end", () => {
          resolve({
            status: answer.statusCode ?? 0,
            text,
            ...(protocolOf(answer.headers[PROTOCOL_HEADER])
              ? { protocol: protocolOf(answer.headers[PROTOCOL_HEADER]) }
              : {}),
          });
          // An answer before the body went (a refusal): the request is unfinished, and the proxy
          // would hold its connection (and this process) open until its client timeout.
          req.destroy();
        });
        answer.on("error", reject);
      },
    );
    req.on("error", (e) => {
      clearTimeout(unasked);
      reject(new Error(`cannot send the file to ${r.url}: ${e.message}`));
    });
    let sending = false;
    const send = () => {
      clearTimeout(unasked);
      if (sending || stop.signal.aborted) return;
      sending = true;
      sendFile(file, length, req, { signal: stop.signal, offset }).catch((e: Error) => req.destroy(e));
    };
    req.once("continue", send);
    // Something between here and the agent that neither passes the expectation on nor answers it
    // would leave the request waiting: after a while the body goes anyway (the agent reads it then).
    unasked = setTimeout(send, CONTINUE_WAIT_MS);
    req.flushHeaders();
  });
}

/**
 * Reads a file of a workspace into the local file `to` (`berth workspace cp NAME:PATH LOCAL`). An
 * agent of protocol 6 or later answers one HTTP GET with the file as the body, of known length
 * (node-agent/access/http-download.ts), or says to read it in a session (a device, a pipe, a node
 * without the relay); an older agent, or one whose version is unknown, serves it in a session.
 * `to` is written only once the node has found the file.
 */
export async function downloadFile(r: SessionRequest, to: string, streams: Streams): Promise<number> {
  const info = await nodeInfoOf(r.url).catch(() => undefined);
  const inSession = async () => {
    const file = createWriteStream(to);
    const s = await openSession(info ? { ...r, node: r.node ?? info.nodeId, protocol: info.protocol } : r, {
      stdout: file,
      stderr: streams.stderr,
    });
    s.eof();
    const code = await s.done.finally(() => new Promise<void>((resolve) => file.end(resolve)));
    return code;
  };
  if (!info || info.protocol < DOWNLOAD_PROTOCOL) return await inSession();
  const token = signAccessToken({
    operator: r.operator.name,
    privateKey: r.operator.privateKey,
    node: r.node ?? info.nodeId,
    target: r.target,
    action: r.action,
    request: requestFor(r.action, r.request, info.protocol),
  });
  const kind = r.target.kind === "environment" ? "environments" : "workspaces";
  const path = `${ACCESS_PATH}/${kind}/${r.target.id}/${r.action}`;
  const answer = await getFile(r.url, path, { authorization: encodeAccessToken(token) }, to).catch((e) => {
    if (e instanceof CutShort)
      throw new Error(
        `the download of ${String(r.request.path)} was cut short: ${e.got} of ${e.length} bytes came (${to} is incomplete)`,
      );
    throw new Error(`cannot read the file from ${r.url}: ${(e as Error).message}`);
  });
  if (answer.kind === "file") return 0;
  let body: { type?: string; code?: unknown; message?: string; reason?: string; stderr?: string } = {};
  try {
    body = JSON.parse(answer.text);
  } catch {}
  if (answer.status !== 200)
    throw new AccessRefused(
      answer.status,
      typeof body.code === "string" ? body.code : `HTTP_${answer.status}`,
      body.reason ?? (answer.text.trim() || "the node's proxy refused the request"),
      protocolOf(answer.headers[PROTOCOL_HEADER]),
    );
  if (body.type === "session") return await inSession();
  if (body.stderr) streams.stderr.write(Buffer.from(body.stderr, "base64"));
  if (body.type === "exit" && typeof body.code === "number") return body.code;
  throw new Error(`the node reports: ${body.message ?? "no outcome for the download"}`);
}

/** Pumps a local readable into the session's stdin, with backpressure; ends it at the end. */
export async function pumpStdin(s: OpenSession, from: NodeJS.ReadableStream): Promise<void> {
  for await (const chunk of from as AsyncIterable<Buffer>) {
    for (let i = 0; i < chunk.length; i += 512 * 1024) s.send(chunk.subarray(i, i + 512 * 1024));
    while (s.ws.bufferedAmount > 4 * 1024 * 1024 && s.ws.readyState === s.ws.OPEN)
      await new Promise((r) => setTimeout(r, 5));
  }
  s.eof();
}

/** Who signs: --operator/--key, or BERTH_OPERATOR and BERTH_OPERATOR_KEY (a key file). */
export function operatorFrom(
  values: { operator?: unknown; key?: unknown },
  env: Record<string, string | undefined>,
  readFile: (p: string) => string,
): Operator {
  const name = (values.operator as string | undefined) ?? env.BERTH_OPERATOR;
  const keyFile = (values.key as string | undefined) ?? env.BERTH_OPERATOR_KEY;
  if (!name)
    throw new UsageError("name the operator: --operator NAME or BERTH_OPERATOR (as in berth:operators)");
  if (!keyFile)
    throw new UsageError(
      "give the operator's private key: --key FILE or BERTH_OPERATOR_KEY=FILE (make one with `berth keygen signing`)",
    );
  return { name, privateKey: readFile(keyFile).trim() };
}

export const ACCESS_OPTIONS = {
  url: { type: "string" },
  operator: { type: "string" },
  key: { type: "string" },
  node: { type: "string" },
} as const;

export const ACCESS_OPTIONS_USAGE = `  --url URL        the node's proxy (default $BERTH_ACCESS_URL, else ${DEFAULT_ACCESS_URL}: the local stack)
  --operator NAME  the operator, as declared in berth:operators (default $BERTH_OPERATOR)
  --key FILE       the operator's Ed25519 private key (default $BERTH_OPERATOR_KEY)
  --node ID        the node's id (default: the one the node behind --url names)`;

export function accessUrl(values: { url?: unknown }, env: Record<string, string | undefined>): string {
  return (values.url as string | undefined) ?? env.BERTH_ACCESS_URL ?? DEFAULT_ACCESS_URL;
}
