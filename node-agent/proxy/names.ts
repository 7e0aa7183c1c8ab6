// Names inside HAProxy's configuration, derived from a route's host and path prefix.
// HAProxy names may hold letters, digits, '-', '_', '.' and ':'. A host name (validated to
// [a-z0-9.-]) is kept as it is, and each '/' of the path becomes ':', which neither a host nor a
// validated path holds, so two different routes never share a backend name and the same route
// always gets the same one: `be_app.example.com:api:v1` for app.example.com + /api/v1.

/** What a route's host may be: a DNS name, lower-cased (no wildcard, no port). */
export const HOST_PATTERN =
  /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
/** What a route's path prefix may be: '/' then URL path characters HAProxy names can mirror. */
export const PATH_PREFIX_PATTERN = /^\/[A-Za-z0-9._\-/]*$/;
/** A name HAProxy accepts for a proxy or server, and that is safe inside a runtime API command. */
export const HAPROXY_NAME_PATTERN = /^[A-Za-z0-9_.:-]+$/;

export const BACKEND_PREFIX = "be_";
/** The backend for requests no route claims (answers 404); route backends never start like this. */
export const NO_ROUTE_BACKEND = "berth_no_route";
export const FRONTEND_NAME = "berth";

/** Lower-cases a host and drops a trailing dot; the result must match HOST_PATTERN. */
export function normalizeHost(host: string): string {
  return host.trim().toLowerCase().replace(/\.$/, "");
}

/** "/" and "" mean no prefix; a trailing slash is dropped ("/api/" is "/api"). */
export function normalizePathPrefix(path: string | undefined): string {
  if (path === undefined) return "";
  const p = path.trim().replace(/\/+$/, "");
  return p;
}

/** The backend name of a route: deterministic and injective over validated hosts and paths. */
export function backendName(host: string, pathPrefix?: string): string {
  const h = normalizeHost(host);
  const p = normalizePathPrefix(pathPrefix);
  const path = p.replace(/\//g, ":");
  return `${BACKEND_PREFIX}${h}${path}`;
}

/** Server slot names of a backend: s1..sN. */
export function slotNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `s${i + 1}`);
}

/** Throws unless `name` is safe to put in a runtime API command as a backend or server name. */
export function assertHaproxyName(kind: string, name: string): void {
  if (!HAPROXY_NAME_PATTERN.test(name)) {
    throw new Error(
      `${kind} name ${JSON.stringify(name)} is not a valid HAProxy name (letters, digits, - _ . :)`,
    );
  }
}
