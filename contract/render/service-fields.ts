// What the single-node render (node-compose.ts) and the Swarm render (swarm/render.ts) write the
// same way: the options they share with their defaults, durations, a service's healthcheck and
// its logging. One place, so the two files a node or a swarm runs cannot drift apart.
import type { Healthcheck, Service } from "../manifest/schema";
import { escapeDollars as esc } from "./dollars";

/** Memory limit for services that set none. */
export const DEFAULT_MEMORY_LIMIT_BYTES = 512 * 1024 * 1024;

/** The options both renders take, each optional. */
export interface SharedRenderOptions {
  /** Memory limit for services that set none. */
  defaultMemoryLimitBytes?: number;
  logMaxSize?: string;
  logMaxFiles?: number;
}

/** Their defaults: a render spreads its caller's options over these. */
export const SHARED_RENDER_DEFAULTS: Required<SharedRenderOptions> = {
  defaultMemoryLimitBytes: DEFAULT_MEMORY_LIMIT_BYTES,
  logMaxSize: "10m",
  logMaxFiles: 3,
};

/** A duration as Compose writes it. */
export function ms(v: number): string {
  return `${v}ms`;
}

/** The service's healthcheck in Compose's spelling, `$` written `$$`. */
export function renderHealthcheck(h: Healthcheck): Record<string, unknown> {
  const hc: Record<string, unknown> = {};
  if (h.test) hc.test = h.test.map(esc);
  if (h.intervalMs !== undefined) hc.interval = ms(h.intervalMs);
  if (h.timeoutMs !== undefined) hc.timeout = ms(h.timeoutMs);
  if (h.retries !== undefined) hc.retries = h.retries;
  if (h.startPeriodMs !== undefined) hc.start_period = ms(h.startPeriodMs);
  if (h.startIntervalMs !== undefined) hc.start_interval = ms(h.startIntervalMs);
  if (h.disable) hc.disable = true;
  return hc;
}

/** The memory limit: the service's own, else the default. */
export function memoryLimit(s: Service, o: Required<SharedRenderOptions>): string {
  return String(s.resources.limits?.memory ?? o.defaultMemoryLimitBytes);
}

/** Logs stay on the node and are always rotated: berth's bounds fill what the file leaves out. */
export function renderLogging(s: Service, o: Required<SharedRenderOptions>): Record<string, unknown> {
  return {
    driver: s.logging?.driver ?? "json-file",
    options: {
      "max-size": o.logMaxSize,
      "max-file": String(o.logMaxFiles),
      ...Object.fromEntries(Object.entries(s.logging?.options ?? {}).map(([k, v]) => [k, esc(v)])),
    },
  };
}
