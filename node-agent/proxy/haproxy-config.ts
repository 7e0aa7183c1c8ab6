// The node proxy's base configuration, rendered by a pure function from a typed description.
//
// The shape is chosen so that a release switch never needs a reload: every route has its own
// backend with a fixed set of server slots (s1, s2, ...), all created `disabled` (maintenance)
// on a placeholder address. The runtime API then points an idle slot at the new release
// (`set server B/S addr 127.0.0.1 port N`), makes it `ready`, and drains the old slot
// (see runtime-api.ts). A reload is only needed when the set of routes changes; the
// `serverStateFile` keeps the slots' addresses and states across such a reload.
import * as z from "zod";
import {
  backendName,
  FRONTEND_NAME,
  HOST_PATTERN,
  NO_ROUTE_BACKEND,
  normalizeHost,
  normalizePathPrefix,
  PATH_PREFIX_PATTERN,
  slotNames,
} from "./names";

/** Where the placeholder slots point until the runtime API gives them a release's port. */
export const PLACEHOLDER_ADDR = "127.0.0.1:1";
export const DEFAULT_SLOTS = 2;
export const NO_ROUTE_MESSAGE = "berth: no route for this host\n";
export const NO_SERVER_MESSAGE = "berth: no live server for this route\n";
/** The agent's access endpoint: this path on any host (contract/access; node-agent/access). */
export const ACCESS_PATH = "/.berth/access";
export const ACCESS_BACKEND = "berth_access";
/** HAProxy's buffer size where it terminates TLS (`tune.bufsize`; HAProxy's default is 16 KiB). */
export const TLS_BUFFER_BYTES = 64 * 1024;

const ms = z.number().int().positive().max(86_400_000);

const bindSchema = z.object({
  /** An IPv4 or IPv6 address, or "*" for every address. */
  address: z.string().regex(/^(\*|[0-9.]+|[0-9a-fA-F:]+)$/, "an IPv4/IPv6 address or *"),
  port: z.number().int().min(1).max(65535),
});

const healthCheckSchema = z.object({
  /** HTTP path probed with GET; a 2xx or 3xx answer is healthy. */
  path: z.string().regex(/^\/[\x21-\x7e]*$/, "an absolute path without spaces"),
  intervalMs: ms.default(2_000),
  rise: z.number().int().min(1).max(100).default(2),
  /** At least 2: a slot is trusted after fall-1 passed checks (see slotReadiness). */
  fall: z.number().int().min(2).max(100).default(3),
});

const routeSchema = z.object({
  host: z
    .string()
    .transform(normalizeHost)
    .pipe(z.string().regex(HOST_PATTERN, "a DNS host name such as app.example.com (no port, no wildcard)")),
  /** Optional path prefix: matches the path itself and everything under it ("/api" and "/api/..."). */
  pathPrefix: z
    .string()
    .regex(PATH_PREFIX_PATTERN, "a path such as /api (letters, digits, . _ - /)")
    .refine((p) => !p.includes("//"), "no empty path segment (//)")
    .optional(),
  /** Number of server slots; 2 is enough for one switch at a time. */
  slots: z.number().int().min(2).max(16).optional(),
  healthCheck: healthCheckSchema.optional(),
});

export const proxyConfigSchema = z.object({
  /** The admin socket (mode 600, level admin) the runtime API talks to. */
  socketPath: z.string().regex(/^\/[^\s]*$/, "an absolute path without spaces"),
  http: bindSchema,
  /** TLS for cloud nodes: certificates are added and replaced later through the runtime API. */
  tls: z
    .object({
      address: bindSchema.shape.address,
      port: bindSchema.shape.port,
      /** A PEM (cert + key) served when no crt-list entry matches; HAProxy needs one at start. */
      defaultCert: z.string().regex(/^\/[^\s]*$/, "an absolute path without spaces"),
      /** A crt-list file (may be empty); `add ssl crt-list` extends it at run time. */
      crtList: z.string().regex(/^\/[^\s]*$/, "an absolute path without spaces"),
      /** Answer plain-HTTP requests with a redirect to HTTPS. */
      redirectHttp: z.boolean().default(false),
    })
    .optional(),
  routes: z.array(routeSchema).default([]),
  /**
   * The node agent's access endpoint (a Unix socket): served under /.berth/access/ on every host,
   * ahead of the routes, on the HTTP and the TLS listener.
   */
  access: z.object({ socket: z.string().regex(/^\/[^\s]*$/, "an absolute path without spaces") }).optional(),
  slotsPerBackend: z.number().int().min(2).max(16).default(DEFAULT_SLOTS),
  /** Written before a reload (`show servers state`) and read back by the new process. */
  serverStateFile: z
    .string()
    .regex(/^\/[^\s]*$/, "an absolute path without spaces")
    .optional(),
  timeouts: z
    .object({
      connectMs: ms.default(5_000),
      clientMs: ms.default(60_000),
      serverMs: ms.default(60_000),
      httpRequestMs: ms.default(10_000),
      httpKeepAliveMs: ms.default(15_000),
      queueMs: ms.default(30_000),
      tunnelMs: ms.default(3_600_000),
    })
    .prefault({}),
  /** Bounds a soft stop or a reload's old process (open connections are closed after it). */
  hardStopAfterMs: ms.default(30_000),
  /** Drop privileges after binding (e.g. Debian's `haproxy` user); unset in tests. */
  user: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]*$/)
    .optional(),
  group: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]*$/)
    .optional(),
  /**
   * "stdout" logs one line per request to HAProxy's stdout (the journal under systemd); "ring"
   * keeps the last requests' lines in memory (REQUEST_LOG_RING, 1 MiB: `show events` on the
   * admin socket), so a node without a journal writes no ever-growing log file.
   */
  log: z.enum(["none", "stdout", "ring"]).default("none"),
});

/** The in-memory ring of request lines when the proxy has no journal (`log: "ring"`). */
export const REQUEST_LOG_RING = "berth-requests";

export type ProxyConfigInput = z.input<typeof proxyConfigSchema>;
export type ProxyConfig = z.output<typeof proxyConfigSchema>;
export type ProxyRoute = ProxyConfig["routes"][number];

/** One route's backend as the agent needs to know it: which backend, which slots. */
export interface BackendPlan {
  backend: string;
  host: string;
  pathPrefix: string;
  slots: string[];
  healthCheck?: ProxyRoute["healthCheck"];
}

/** Validates a description; errors name the field ("routes.1.host: ..."). */
export function parseProxyConfig(input: ProxyConfigInput): ProxyConfig {
  const r = proxyConfigSchema.safeParse(input);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new Error(`invalid proxy configuration:\n${lines.join("\n")}`);
  }
  return r.data;
}

/**
 * The backends in matching order: longest path prefix first (so /api/v1 wins over /api, and
 * any prefix over the host alone), then by host and path for a stable text. Throws on two
 * routes for the same host and prefix.
 */
export function planBackends(config: ProxyConfig): BackendPlan[] {
  const plans = config.routes.map((r): BackendPlan => {
    const pathPrefix = normalizePathPrefix(r.pathPrefix);
    return {
      backend: backendName(r.host, pathPrefix),
      host: r.host,
      pathPrefix,
      slots: slotNames(r.slots ?? config.slotsPerBackend),
      ...(r.healthCheck ? { healthCheck: r.healthCheck } : {}),
    };
  });
  const seen = new Set<string>();
  for (const p of plans) {
    if (seen.has(p.backend)) {
      throw new Error(`two routes for ${p.host}${p.pathPrefix || "/"}: each host and path prefix once`);
    }
    seen.add(p.backend);
  }
  return plans.sort(
    (a, b) =>
      b.pathPrefix.length - a.pathPrefix.length || cmp(a.host, b.host) || cmp(a.pathPrefix, b.pathPrefix),
  );
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function bindAddr(address: string, port: number): string {
  if (address === "*") return `:${port}`;
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}

function useBackendLine(p: BackendPlan): string {
  const host = `{ var(txn.berth_host) -m str ${p.host} }`;
  if (p.pathPrefix === "") return `  use_backend ${p.backend} if ${host}`;
  return `  use_backend ${p.backend} if ${host} { path ${p.pathPrefix} } || ${host} { path_beg ${p.pathPrefix}/ }`;
}

function backendBlock(p: BackendPlan): string[] {
  const lines = [`backend ${p.backend}`, "  balance roundrobin"];
  let check = "";
  if (p.healthCheck) {
    const hc = p.healthCheck;
    lines.push(
      "  option httpchk",
      `  http-check send meth GET uri ${hc.path} ver HTTP/1.1 hdr Host ${p.host}`,
    );
    check = ` check inter ${hc.intervalMs}ms rise ${hc.rise} fall ${hc.fall}`;
  }
  for (const s of p.slots) lines.push(`  server ${s} ${PLACEHOLDER_ADDR} disabled${check}`);
  return lines;
}

/** Renders HAProxy's configuration text (accepted by HAProxy 2.6 and 3.0). */
export function renderHaproxyConfig(input: ProxyConfigInput): string {
  const c = parseProxyConfig(input);
  const plans = planBackends(c);
  const t = c.timeouts;
  const out: string[] = [
    "# Rendered by berth's node agent; changed at run time only through the admin socket.",
    "global",
    `  stats socket ${c.socketPath} mode 600 level admin expose-fd listeners`,
    "  stats timeout 30s",
    `  hard-stop-after ${c.hardStopAfterMs}ms`,
  ];
  if (c.user) out.push(`  user ${c.user}`);
  if (c.group) out.push(`  group ${c.group}`);
  if (c.serverStateFile) out.push(`  server-state-file ${c.serverStateFile}`);
  if (c.log === "stdout") out.push("  log stdout format raw local0");
  if (c.log === "ring") out.push(`  log ring@${REQUEST_LOG_RING} format raw local0`);
  if (c.tls) out.push("  ssl-default-bind-options ssl-min-ver TLSv1.2");
  // With TLS, HAProxy reads, decrypts and writes each body through its buffer (nothing is
  // spliced): a 64 KiB buffer, not 16, takes a decrypted upload on into the agent's socket (its
  // relay's) in a quarter of the reads, writes and wakeups. 1 GiB into a splicing relay over TLS
  // cost HAProxy 0.84-1.05 s of CPU with it against 1.17-1.43 s without, and the relay 0.21-0.30 s
  // against 0.33-0.45 (load ~9; docs/benchmarks.md, bench:access). A buffer is held only while a
  // stream has bytes in it: idle, HAProxy's resident memory is the same (20.5 MB).
  if (c.tls) out.push(`  tune.bufsize ${TLS_BUFFER_BYTES}`);
  if (c.log === "ring")
    out.push("", `ring ${REQUEST_LOG_RING}`, "  format raw", "  maxlen 4096", `  size ${1024 * 1024}`);
  out.push(
    "",
    "defaults",
    "  mode http",
    ...(c.log !== "none" ? ["  log global", "  option httplog", "  option dontlognull"] : []),
    "  option http-keep-alive",
    "  option forwardfor",
    "  option redispatch 1",
    "  retries 3",
    `  timeout connect ${t.connectMs}ms`,
    `  timeout client ${t.clientMs}ms`,
    `  timeout server ${t.serverMs}ms`,
    `  timeout http-request ${t.httpRequestMs}ms`,
    `  timeout http-keep-alive ${t.httpKeepAliveMs}ms`,
    `  timeout queue ${t.queueMs}ms`,
    `  timeout tunnel ${t.tunnelMs}ms`,
    ...(c.serverStateFile ? ["  load-server-state-from-file global"] : []),
    `  http-error status 503 content-type "text/plain; charset=utf-8" string "${escapeString(NO_SERVER_MESSAGE)}"`,
    "",
    `frontend ${FRONTEND_NAME}`,
    `  bind ${bindAddr(c.http.address, c.http.port)}`,
  );
  if (c.tls) {
    out.push(
      `  bind ${bindAddr(c.tls.address, c.tls.port)} ssl crt ${c.tls.defaultCert} crt-list ${c.tls.crtList} alpn h2,http/1.1`,
    );
    if (c.tls.redirectHttp) out.push("  http-request redirect scheme https code 301 if !{ ssl_fc }");
    out.push(
      "  http-request set-header X-Forwarded-Proto https if { ssl_fc }",
      "  http-request set-header X-Forwarded-Proto http if !{ ssl_fc }",
    );
  }
  out.push("  http-request set-var(txn.berth_host) req.hdr(host),field(1,:),lower");
  if (c.access) out.push(`  use_backend ${ACCESS_BACKEND} if { path_beg ${ACCESS_PATH}/ }`);
  for (const p of plans) out.push(useBackendLine(p));
  out.push(`  default_backend ${NO_ROUTE_BACKEND}`);
  for (const p of plans) out.push("", ...backendBlock(p));
  // splice-request: a file upload's body (one HTTP PUT) goes from the client's socket to the
  // agent's (handed to its splice relay) through the kernel, without HAProxy copying it.
  // splice-auto left HAProxy copying: 1 GiB through HAProxy 2.6 into the agent (measured with
  // the upload relay it had before the splice relay) cost it 0.72-0.75 s with splice-auto (as
  // much as with neither, 0.71-0.73) and 0.44-0.52 s with splice-request (plain HTTP on
  // 127.0.0.1, load ~5; a TLS frontend decrypts, so nothing is spliced there).
  // splice-response: a download's answer (the splice relay's, node-agent/access/splice-relay.ts)
  // the same way back: 1 GiB from a Unix socket to curl cost HAProxy 0.27-0.49 s with it against
  // 0.38-0.54 s without (load ~10); splice-auto spliced nothing here either (0.47-0.62 s).
  if (c.access)
    out.push(
      "",
      `backend ${ACCESS_BACKEND}`,
      "  option splice-request",
      "  option splice-response",
      `  server agent unix@${c.access.socket}`,
    );
  out.push(
    "",
    `backend ${NO_ROUTE_BACKEND}`,
    `  http-request return status 404 content-type "text/plain; charset=utf-8" string "${escapeString(NO_ROUTE_MESSAGE)}"`,
    "",
  );
  return out.join("\n");
}

function escapeString(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}
