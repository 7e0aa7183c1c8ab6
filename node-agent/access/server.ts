// The node agent's access endpoint: HTTP and WebSocket on a Unix socket in the state folder, which
// the node's HAProxy serves under /.berth/access/ on every host it answers (80 locally, 443 with
// TLS on cloud nodes, so Cloudflare's proxy passes it). No TCP port of its own: nothing reaches it
// except through the proxy. Each request carries one signed token (contract/access); the node
// checks it, then its nonce, then runs the action's handler in a WebSocket session.
import { chmodSync, chownSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { dirname } from "node:path";
import type { Duplex } from "node:stream";
import { WebSocketServer } from "ws";
import {
  ACCESS_ACTIONS,
  ACCESS_PROTOCOL,
  type AccessAction,
  type AccessRequest,
  type AccessTarget,
  authorize,
  decodeAccessToken,
  type Operator,
  PROTOCOL_HEADER,
  REFUSAL_STATUS,
  type TargetPolicy,
  TokenFormatError,
} from "../../contract/access";
import { isId } from "../../contract/ids";
import type { Logger } from "../../lib/log";
import { HttpDownloadSession } from "./http-download";
import { HttpUploadSession } from "./http-upload";
import type { NonceCache } from "./nonce-cache";
import { MAX_FRAME_BYTES, Session, type StreamSession } from "./session";
import type { SessionLog } from "./session-log";

export const ACCESS_PATH_PREFIX = "/.berth/access/v1";
/** Sessions open at once; one more is refused (BUSY) rather than queued. */
export const MAX_SESSIONS = 64;

export interface AccessContext<A extends AccessAction = AccessAction> {
  target: AccessTarget;
  action: A;
  request: AccessRequest<A>;
  operator: Operator;
  session: StreamSession;
  log: Logger;
}
/** Runs an action; resolves with the exit code the client gets. */
export type ActionHandler = (c: AccessContext) => Promise<number>;

export interface AccessServerDeps {
  nodeId: string;
  socketPath: string;
  /**
   * The group that may connect (HAProxy's workers run as `haproxy` on cloud nodes): the socket's
   * folder becomes 0750 and the socket 0660, that group's. Absent: 0700 and 0600, the agent's
   * user alone (the proxy runs as it).
   */
  socketGroup?: number;
  /** What the program signed for a target on this node, or undefined when it holds no such target. */
  policy: (target: AccessTarget) => TargetPolicy | undefined | Promise<TargetPolicy | undefined>;
  handlers: Partial<Record<AccessAction, ActionHandler>>;
  nonces: NonceCache;
  sessions: SessionLog;
  log: Logger;
  now?: () => Date;
}

const PATH = /^\/\.berth\/access\/v1\/(environments|workspaces)\/([^/]+)\/([a-z-]{1,32})$/;
/** The one action served as a plain HTTP PUT. */
const UPLOAD_PATH = /^\/\.berth\/access\/v1\/workspaces\/[^/]+\/file-write$/;
/** The one action served as a plain HTTP GET (protocol 6, http-download.ts). */
const DOWNLOAD_PATH = /^\/\.berth\/access\/v1\/workspaces\/[^/]+\/file-read$/;

export class AccessServer {
  private server: Server | undefined;
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES + 1 });
  private open = 0;

  constructor(private readonly d: AccessServerDeps) {
    // Every answer names the protocol version (contract/access/protocol.ts), the 101 included.
    this.wss.on("headers", (headers) => headers.push(`${PROTOCOL_HEADER}: ${ACCESS_PROTOCOL}`));
  }

  async start(): Promise<void> {
    const dir = dirname(this.d.socketPath);
    const group = this.d.socketGroup;
    mkdirSync(dir, { recursive: true, mode: group === undefined ? 0o700 : 0o750 });
    if (group !== undefined) {
      chownSync(dir, process.getuid?.() ?? 0, group);
      chmodSync(dir, 0o750);
    }
    if (existsSync(this.d.socketPath)) rmSync(this.d.socketPath);
    // requestTimeout 0: an upload's body may take longer than node's default 300 s to arrive
    // (a GiB over a slow link), and one a child process reads never completes for node's parser;
    // the proxy's timeouts bound an idle client, and headersTimeout still bounds the request's head.
    const server = createServer({ requestTimeout: 0 }, (req, res) => this.request(req, res, false));
    // A client that waits for `100 Continue` before its body (Expect): an upload is told to send
    // only once it is admitted and its body has somewhere to go (http-upload.ts); others at once.
    server.on("checkContinue", (req, res) => {
      if (req.method !== "PUT") res.writeContinue();
      this.request(req, res, req.method === "PUT");
    });
    server.on("upgrade", (req, socket, head) => {
      this.upgrade(req, socket, head).catch((e) => {
        this.d.log.error({ err: (e as Error).message }, "access request failed");
        socket.destroy();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.d.socketPath, () => resolve());
    });
    // The proxy connects as the agent's own user (the local node), or as a member of the group.
    if (group !== undefined) chownSync(this.d.socketPath, process.getuid?.() ?? 0, group);
    chmodSync(this.d.socketPath, group === undefined ? 0o600 : 0o660);
    this.server = server;
    this.d.log.info({ socket: this.d.socketPath }, "access endpoint listening");
  }

  /** A plain HTTP request: the node's info, an upload (PUT), or a refusal naming WebSocket. */
  private request(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): void {
    if (req.method === "GET" && req.url === `${ACCESS_PATH_PREFIX}/node`) {
      res.writeHead(200, { "content-type": "application/json", [PROTOCOL_HEADER]: ACCESS_PROTOCOL });
      res.end(JSON.stringify({ nodeId: this.d.nodeId, protocol: ACCESS_PROTOCOL }));
      return;
    }
    if (req.method === "GET" && DOWNLOAD_PATH.test(req.url ?? "")) {
      this.download(req, res).catch((e) => {
        this.d.log.error({ err: (e as Error).message }, "access download failed");
        res.destroy();
      });
      return;
    }
    if (req.method === "PUT" && req.url?.startsWith(ACCESS_PATH_PREFIX)) {
      this.upload(req, res, expectsContinue).catch((e) => {
        this.d.log.error({ err: (e as Error).message }, "access upload failed");
        res.destroy();
      });
      return;
    }
    res.writeHead(req.url?.startsWith(ACCESS_PATH_PREFIX) ? 426 : 404, {
      "content-type": "application/json",
      [PROTOCOL_HEADER]: ACCESS_PROTOCOL,
    });
    res.end(JSON.stringify({ code: "UPGRADE_REQUIRED", reason: "access requests are WebSocket sessions" }));
  }

  async stop(): Promise<void> {
    for (const c of this.wss.clients) c.terminate();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    this.server = undefined;
  }

  private reject(socket: Duplex, status: number, code: string, reason: string): void {
    const body = JSON.stringify({ code, reason });
    socket.end(
      `HTTP/1.1 ${status} ${code}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${PROTOCOL_HEADER}: ${ACCESS_PROTOCOL}\r\nconnection: close\r\n\r\n${body}`,
    );
  }

  /**
   * Everything before a session: the path, the token, the policy, the decision, the handler, room
   * for one more session, the nonce. Refusals are recorded; the caller answers them.
   */
  private async admit(req: IncomingMessage): Promise<Admission> {
    const from = String(req.headers["x-forwarded-for"] ?? "local");
    const m = PATH.exec(req.url ?? "");
    const action = m?.[3] as AccessAction | undefined;
    if (!m || !isId(m[2] ?? "") || !action || !ACCESS_ACTIONS.includes(action))
      return { ok: false, status: 404, code: "NO_SUCH_ACTION", reason: `no access action at ${req.url}` };
    const target: AccessTarget = {
      kind: m[1] === "environments" ? "environment" : "workspace",
      id: m[2] as string,
    };
    const base = { target, action, from };
    let token: ReturnType<typeof decodeAccessToken>;
    try {
      token = decodeAccessToken(req.headers.authorization);
    } catch (e) {
      const reason = e instanceof TokenFormatError ? e.message : "unreadable token";
      this.d.sessions.refused(base, "MALFORMED", reason);
      return { ok: false, status: 400, code: "MALFORMED", reason };
    }
    const policy = await Promise.resolve(this.d.policy(target)).catch((e: Error) => {
      this.d.log.warn({ target, err: e.message }, "the target's access policy could not be read");
      return undefined;
    });
    const now = this.d.now?.() ?? new Date();
    const decision = authorize({ token, node: this.d.nodeId, target, action, policy, now });
    const who = { operator: token.payload.operator, keyId: token.payload.keyId };
    if (!decision.ok) {
      this.d.sessions.refused({ ...base, ...who }, decision.code, decision.reason);
      return {
        ok: false,
        status: REFUSAL_STATUS[decision.code],
        code: decision.code,
        reason: decision.reason,
      };
    }
    const handler = this.d.handlers[action];
    if (!handler)
      return { ok: false, status: 501, code: "NOT_SERVED", reason: `this node does not serve ${action} yet` };
    if (this.open >= MAX_SESSIONS) {
      const reason = `${MAX_SESSIONS} sessions are open on this node; try again when one ends`;
      this.d.sessions.refused({ ...base, ...who }, "BUSY", reason);
      return { ok: false, status: 503, code: "BUSY", reason };
    }
    // Replay last, so only a token that passed every other check takes a place in the cache.
    const used = this.d.nonces.use(token.payload.nonce, decision.expiresAt, now.getTime());
    if (used !== "fresh") {
      const [code, reason] =
        used === "replayed"
          ? ([
              "REPLAYED",
              `the token (nonce ${token.payload.nonce}) was used already: sign a new one`,
            ] as const)
          : (["BUSY", "too many tokens are live on this node; try again in a minute"] as const);
      this.d.sessions.refused({ ...base, ...who }, code, reason);
      return { ok: false, status: REFUSAL_STATUS[code], code, reason };
    }
    const detail = describeRequest(action, decision.request, decision.ignored);
    const id = this.d.sessions.start({ ...base, ...who, ...(detail ? { detail } : {}) });
    return { ok: true, id, target, action, handler, decision };
  }

  /** Runs an admitted action's handler in a session; its end is recorded and sent. */
  private run(a: Extract<Admission, { ok: true }>, session: StreamSession): void {
    this.open++;
    const { id, target, action, handler, decision } = a;
    const log = this.d.log.child({ session: id, operator: decision.operator.name });
    handler({ target, action, request: decision.request, operator: decision.operator, session, log })
      .then((code) => {
        this.d.sessions.end(id, { exitCode: code });
        session.finish({ type: "exit", code });
      })
      .catch((e) => {
        const message = (e as Error).message;
        this.d.sessions.end(id, { error: message });
        session.finish({ type: "error", message });
      })
      .finally(() => {
        this.open--;
      });
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const a = await this.admit(req);
    if (!a.ok) {
      this.reject(socket, a.status, a.code, a.reason);
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.run(a, new Session(ws)));
  }

  /** A file download as one HTTP GET (protocol 6, http-download.ts). */
  private async download(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const a = await this.admit(req);
    if (!a.ok) {
      refuseHttp(req, res, a.status, a.code, a.reason);
      return;
    }
    this.run(a, new HttpDownloadSession(req, res));
  }

  /** A file upload as one HTTP PUT (protocol 3, http-upload.ts); every other action is a WebSocket session. */
  private async upload(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): Promise<void> {
    const refuse = (status: number, code: string, reason: string) =>
      refuseHttp(req, res, status, code, reason);
    if (!UPLOAD_PATH.test(req.url ?? "")) {
      refuse(
        405,
        "UPGRADE_REQUIRED",
        "only file-write is an HTTP PUT; other access requests are WebSocket sessions",
      );
      return;
    }
    const a = await this.admit(req);
    if (!a.ok) {
      refuse(a.status, a.code, a.reason);
      return;
    }
    this.run(a, new HttpUploadSession(req, res, { [PROTOCOL_HEADER]: ACCESS_PROTOCOL }, expectsContinue));
  }
}

/** A refusal of a plain HTTP request (an upload's body is not read): the connection ends with it. */
function refuseHttp(req: IncomingMessage, res: ServerResponse, status: number, code: string, reason: string) {
  const body = JSON.stringify({ code, reason });
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    [PROTOCOL_HEADER]: ACCESS_PROTOCOL,
    connection: "close",
  });
  res.end(body, () => req.socket.destroy());
}

type Admission =
  | { ok: false; status: number; code: string; reason: string }
  | {
      ok: true;
      id: string;
      target: AccessTarget;
      action: AccessAction;
      handler: ActionHandler;
      decision: Extract<ReturnType<typeof authorize>, { ok: true }>;
    };

/** What the session record says was asked (never a file's content). */
export function describeRequest(
  action: AccessAction,
  r: AccessRequest,
  ignored: readonly string[] = [],
): string | undefined {
  const q = r as Record<string, unknown>;
  const parts: string[] = [];
  if (typeof q.service === "string") parts.push(`service=${q.service}`);
  if (Array.isArray(q.command)) parts.push(`command=${JSON.stringify(q.command)}`);
  if (typeof q.path === "string") parts.push(`path=${q.path}`);
  if (typeof q.port === "number") parts.push(`port=${q.port}`);
  if (typeof q.snapshot === "string") parts.push(`snapshot=${q.snapshot}`);
  if (typeof q.branch === "string") parts.push(`branch=${q.branch}`);
  if (action === "logs" && q.follow) parts.push("follow");
  if (typeof q.since === "string") parts.push(`since=${q.since}`);
  // Fields of a newer CLI's protocol this agent did not read (their names only).
  if (ignored.length > 0)
    parts.push(
      `ignored=${ignored
        .slice(0, 8)
        .map((k) => k.slice(0, 64))
        .join(",")}`,
    );
  return parts.length > 0 ? parts.join(" ") : undefined;
}
