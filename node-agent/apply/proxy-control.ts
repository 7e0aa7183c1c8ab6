// What an apply needs from the node's proxy. The HAProxy implementation (node-agent/proxy)
// changes servers only through the runtime API, so a switch never drops a connection.
import type { TlsBundle } from "../../contract/release/tls";
import type { RouteKey, Upstream } from "./plan";

export interface ProxyControl {
  /**
   * Makes sure the proxy has a backend for each of these routes. Only routes that did not exist
   * before need a change of the proxy's configuration; existing routes keep their traffic.
   */
  ensureRoutes(routes: readonly RouteKey[]): Promise<void>;
  /**
   * Sends a route's new connections to `upstreams` (a service's replicas) and drains the old
   * servers; with `parallelism`, that many at a time, each batch serving before as many old
   * servers are drained, so the route keeps as many servers as before throughout.
   */
  switchRoute(
    route: RouteKey,
    upstreams: readonly Upstream[],
    opts?: { parallelism?: number },
  ): Promise<void>;
  /** Where a route sends traffic now (empty: nowhere). */
  upstreamsOf(route: RouteKey): Promise<Upstream[]>;
  /**
   * Makes `bundles` the TLS certificates of an environment (loaded without a reload; the ones it
   * no longer has are removed). A proxy without TLS ignores them, with a warning.
   */
  installCertificates(environmentId: string, bundles: readonly TlsBundle[]): Promise<void>;
  /** Stops sending traffic for a route (the environment was removed). */
  removeRoute(route: RouteKey): Promise<void>;
}
