// A private git host for tests: `git http-backend` (git's own smart-HTTP CGI) behind a small
// Node HTTP server that asks for basic auth and serves only the right user and token. It records
// every request (method, path, whether the credential was right, the client's address), never
// the password itself.
import { spawn } from "node:child_process";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface GitRequest {
  method: string;
  url: string;
  authorized: boolean;
  from: string;
}

export interface GitHttpServer {
  url: string;
  requests: GitRequest[];
  close(): Promise<void>;
}

function authorized(req: IncomingMessage, username: string, token: string): boolean {
  const h = req.headers.authorization ?? "";
  if (!h.startsWith("Basic ")) return false;
  return Buffer.from(h.slice(6), "base64").toString("utf8") === `${username}:${token}`;
}

function backend(projectRoot: string, req: IncomingMessage, res: ServerResponse, user: string): void {
  const u = new URL(req.url ?? "/", "http://x");
  const cgi = spawn("git", ["http-backend"], {
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      GIT_PROJECT_ROOT: projectRoot,
      GIT_HTTP_EXPORT_ALL: "1",
      REQUEST_METHOD: req.method ?? "GET",
      PATH_INFO: decodeURIComponent(u.pathname),
      QUERY_STRING: u.search.slice(1),
      CONTENT_TYPE: req.headers["content-type"] ?? "",
      REMOTE_USER: user,
      REMOTE_ADDR: req.socket.remoteAddress ?? "",
      ...(req.headers["content-encoding"] ? { HTTP_CONTENT_ENCODING: req.headers["content-encoding"] } : {}),
      ...(req.headers["git-protocol"] ? { GIT_PROTOCOL: String(req.headers["git-protocol"]) } : {}),
    },
  });
  req.pipe(cgi.stdin);
  let head = Buffer.alloc(0);
  let headersDone = false;
  cgi.stdout.on("data", (chunk: Buffer) => {
    if (headersDone) {
      res.write(chunk);
      return;
    }
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf("\r\n\r\n");
    if (end < 0) return;
    headersDone = true;
    let status = 200;
    for (const line of head.subarray(0, end).toString("latin1").split("\r\n")) {
      const i = line.indexOf(":");
      if (i < 0) continue;
      const k = line.slice(0, i).trim();
      const v = line.slice(i + 1).trim();
      if (k.toLowerCase() === "status") status = Number.parseInt(v, 10);
      else res.setHeader(k, v);
    }
    res.writeHead(status);
    res.write(head.subarray(end + 4));
  });
  cgi.on("close", () => {
    if (!headersDone) res.writeHead(500);
    res.end();
  });
}

/** Serves the bare repositories under `projectRoot` at http://<host>:<port>/<name>.git. */
export async function startGitHttpServer(o: {
  projectRoot: string;
  host: string;
  username: string;
  token: string;
}): Promise<GitHttpServer> {
  const requests: GitRequest[] = [];
  const server: Server = createServer((req, res) => {
    const ok = authorized(req, o.username, o.token);
    requests.push({
      method: req.method ?? "",
      url: req.url ?? "",
      authorized: ok,
      from: req.socket.remoteAddress ?? "",
    });
    if (!ok) {
      res.writeHead(401, { "WWW-Authenticate": 'Basic realm="berth test git"' });
      res.end("authentication required\n");
      return;
    }
    backend(o.projectRoot, req, res, o.username);
  });
  await new Promise<void>((resolve) => server.listen(0, o.host, resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${o.host}:${port}`,
    requests,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
