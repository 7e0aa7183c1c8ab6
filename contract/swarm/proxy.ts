// The proxy every node of a swarm runs for an environment (issue 23, traffic): a global service
// of the stack, `berth-proxy`, whose HAProxy routes each `x-berth-routes` host (and path) straight
// to the service's tasks on the environment's overlay. It finds them by Docker's embedded DNS
// (`tasks.<stack>_<service>`, the DNS round robin berth renders: `endpoint_mode: dnsrr`), so it needs no
// IPVS and no routing mesh (this machine's kernel has neither; machine.md). Each node's proxy
// publishes one port in host mode (iptables, as for any container), so a client reaching any node
// reaches every task, wherever it runs.
//
// What keeps requests from failing while tasks come and go (a rolling update, a node lost):
// DNS answers held at most 1 s; each server health-checked every 500 ms and taken out after one
// failed check; a request whose connection fails, or whose server closed it or answered 502-504,
// is retried up to 3 times on another server (`retry-on all-retryable-errors`, `option
// redispatch`); connects time out after 1 s, so a lost node's tasks cost a retry, not a failure.
// Readiness (PROXY_READY_PATH asked with the Host PROXY_READY_HOST): 200 when every route's backend
// has a task it reaches (a server UP), else 503. The leader's agent asks each node's proxy before
// it reports a release applied (node-agent/swarm/proxy-ready.ts), so "applied" means every node
// serves. Only that host gets an answer: a request for a route's host, the only kind the edge
// forwards, goes to the app even on this path, so the public learns nothing of the tasks' health
// and an app keeps every path of its own.
// Pure: the text of the config; render.ts adds the service.
import type { Route } from "../manifest/schema";

/** The port the proxy listens on inside its container. */
export const PROXY_TARGET_PORT = 8080;
/** The stack's service name of the proxy (a Compose file's own service of this name is refused). */
export const PROXY_SERVICE = "berth-proxy";
/** Where the config is mounted in the proxy's container. */
export const PROXY_CONFIG_PATH = "/etc/berth-proxy/haproxy.cfg";
/** Server slots per route: the most tasks of one service a proxy sends to. */
export const PROXY_SLOTS = 20;
/** Answered by the proxy itself: 200 when every route has a live task, else 503. */
export const PROXY_READY_PATH = "/.berth/proxy-ready";
/** The Host the readiness is asked with: `.invalid` is reserved (RFC 2606), so no route has it. */
export const PROXY_READY_HOST = "berth-proxy.invalid";

function backendName(i: number, r: Route): string {
  return `r${i}_${r.service.replace(/[^A-Za-z0-9_-]/g, "_")}`;
}

/** HAProxy's configuration for the environment's routes (sorted: longest path prefix first). */
export function renderSwarmProxyConfig(routes: readonly Route[], stack: string): string {
  const sorted = routes
    .map((r, i) => ({ r, backend: backendName(i, r), prefix: (r.path ?? "/").replace(/\/+$/, "") }))
    .sort((a, b) => b.prefix.length - a.prefix.length || a.r.host.localeCompare(b.r.host));
  const out = [
    "# Rendered by berth: the swarm proxy of one environment (contract/swarm/proxy.ts).",
    "global",
    // Each connection takes two descriptors; 4096 stays well under a container's usual limit.
    "  maxconn 4096",
    "defaults",
    "  mode http",
    "  timeout connect 1s",
    "  timeout client 60s",
    "  timeout server 60s",
    "  timeout http-keep-alive 60s",
    "  retries 3",
    "  option redispatch 1",
    "  retry-on all-retryable-errors",
    "resolvers docker",
    "  nameserver dns 127.0.0.11:53",
    "  accepted_payload_size 8192",
    "  resolve_retries 3",
    "  timeout resolve 200ms",
    "  timeout retry 200ms",
    "  hold valid 1s",
    "  hold nx 1s",
    "  hold obsolete 1s",
    "frontend http",
    `  bind :${PROXY_TARGET_PORT}`,
    "  http-request set-var(txn.host) req.hdr(host),field(1,:),lower",
    `  acl berth_ready_ask path ${PROXY_READY_PATH}`,
    `  acl berth_ready_ask_host var(txn.host) -m str ${PROXY_READY_HOST}`,
    // Named ACLs of one name are OR'ed: any route without a live task.
    ...sorted.map(({ backend }) => `  acl berth_unready nbsrv(${backend}) lt 1`),
    "  http-request return status 503 if berth_ready_ask berth_ready_ask_host berth_unready",
    "  http-request return status 200 if berth_ready_ask berth_ready_ask_host",
  ];
  for (const { r, backend, prefix } of sorted) {
    const host = r.host.startsWith("*.")
      ? `{ var(txn.host) -m end ${r.host.slice(1)} }`
      : `{ var(txn.host) -m str ${r.host} }`;
    out.push(
      prefix === ""
        ? `  use_backend ${backend} if ${host}`
        : `  use_backend ${backend} if ${host} { path ${prefix} } || ${host} { path_beg ${prefix}/ }`,
    );
  }
  for (const { r, backend } of sorted) {
    out.push(
      `backend ${backend}`,
      "  balance roundrobin",
      "  default-server check inter 500ms fall 1 rise 1 resolvers docker resolve-prefer ipv4 init-addr none",
      // The service's full name (`<stack>_<service>`): Docker answers `tasks.<name>` with every running task.
      `  server-template task ${PROXY_SLOTS} tasks.${stack}_${r.service}:${r.port}`,
    );
  }
  return `${out.join("\n")}\n`;
}
