// The local registry's gate: docker-registry 2.8's htpasswd auth knows users but no permissions,
// so every user it accepts may push. The gate is a small authorising proxy in front of it (the
// registry itself listens only on a unix socket of its own): reads (GET, HEAD) pass for anyone
// the registry accepts; a write (POST, PUT, PATCH, DELETE) passes only for a user on the push
// list, otherwise the gate answers 403 DENIED itself. The registry still checks every password,
// so a pull login cannot borrow a push user's name. Bodies stream through untouched.
import { createServer, type IncomingMessage, request, type Server } from "node:http";
import { parseArgs } from "node:util";

const READS = new Set(["GET", "HEAD", "OPTIONS"]);

/** The user a Basic Authorization header names (the registry checks the password). */
export function basicUser(authorization: string | undefined): string | undefined {
  const m = authorization?.match(/^Basic\s+([A-Za-z0-9+/=]+)\s*$/i);
  if (!m) return undefined;
  const text = Buffer.from(m[1]!, "base64").toString("utf8");
  const colon = text.indexOf(":");
  return colon < 0 ? undefined : text.slice(0, colon);
}

export type GateDecision = { pass: true } | { pass: false; status: 403; message: string };

/**
 * A request with no credentials passes (the registry answers its 401 challenge); a write passes
 * only for a push user.
 */
export function gateDecision(
  method: string,
  authorization: string | undefined,
  pushUsers: ReadonlySet<string>,
): GateDecision {
  if (READS.has(method.toUpperCase()) || authorization === undefined) return { pass: true };
  const user = basicUser(authorization);
  if (user !== undefined && pushUsers.has(user)) return { pass: true };
  return {
    pass: false,
    status: 403,
    message: `requested access to the resource is denied: ${user === undefined ? "this login" : `user ${user}`} may only pull`,
  };
}

export interface GateOptions {
  host: string;
  port: number;
  /** The registry's unix socket. */
  upstreamSocket: string;
  pushUsers: readonly string[];
}

export function startRegistryGate(o: GateOptions): Promise<Server> {
  const push = new Set(o.pushUsers);
  const server = createServer((req: IncomingMessage, res) => {
    const d = gateDecision(req.method ?? "GET", req.headers.authorization, push);
    if (!d.pass) {
      req.resume();
      res.writeHead(d.status, {
        "content-type": "application/json",
        "docker-distribution-api-version": "registry/2.0",
      });
      res.end(`${JSON.stringify({ errors: [{ code: "DENIED", message: d.message }] })}\n`);
      return;
    }
    const up = request(
      { socketPath: o.upstreamSocket, method: req.method, path: req.url, headers: req.headers },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.on("error", (e) => {
      if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
      res.end(`the registry behind the gate did not answer: ${e.message}\n`);
    });
    req.pipe(up);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.host, () => resolve(server));
  });
}

/** `node dist/registry-gate.js --listen HOST:PORT --upstream SOCKET --push-users a,b` (setup starts it). */
export function main(argv: string[]): void {
  const { values } = parseArgs({
    args: argv,
    options: { listen: { type: "string" }, upstream: { type: "string" }, "push-users": { type: "string" } },
  });
  const [host, port] = (values.listen ?? "").split(":");
  if (!host || !port || !values.upstream || !values["push-users"]) {
    process.stderr.write(
      "usage: registry-gate --listen HOST:PORT --upstream SOCKET --push-users USER[,USER]\n",
    );
    process.exit(2);
  }
  startRegistryGate({
    host,
    port: Number(port),
    upstreamSocket: values.upstream,
    pushUsers: values["push-users"].split(",").filter(Boolean),
  }).then(
    () => process.stdout.write(`registry gate on ${values.listen} in front of ${values.upstream}\n`),
    (e: Error) => {
      process.stderr.write(`registry gate: ${e.message}\n`);
      process.exit(1);
    },
  );
}

if (require.main === module) main(process.argv.slice(2));
