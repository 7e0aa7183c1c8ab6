// The `x-berth-health` HTTP probe: GET http://HOST:PORT/PATH until it answers the expected
// status, or the deadline passes. Returns the last observation for error messages.

export interface ProbeTarget {
  host: string;
  port: number;
  path: string;
  status: number;
}

export interface ProbeResult {
  ok: boolean;
  /** Ended because the service is gone (see ProbeOptions.gone). */
  gone?: boolean;
  attempts: number;
  last: string;
}

export interface ProbeOptions {
  timeoutMs: number;
  /** The longest wait between attempts; the first waits are shorter (50 ms, doubling up to it). */
  intervalMs?: number;
  requestTimeoutMs?: number;
  /**
   * Asked about once a second while the probe has not passed: a reason when the service can no
   * longer pass (its container exited), which ends the probe at once instead of at the deadline.
   */
  gone?: () => Promise<string | undefined>;
  goneEveryMs?: number;
}

export async function probeUntilHealthy(t: ProbeTarget, opts: ProbeOptions): Promise<ProbeResult> {
  const started = Date.now();
  const deadline = started + opts.timeoutMs;
  const url = `http://${t.host.includes(":") ? `[${t.host}]` : t.host}:${t.port}${t.path}`;
  const longest = opts.intervalMs ?? 250;
  let wait = Math.min(50, longest);
  let nextGoneCheck = started + (opts.goneEveryMs ?? 1000);
  let attempts = 0;
  let last = "not probed";
  while (Date.now() < deadline) {
    attempts++;
    try {
      const r = await fetch(url, {
        signal: AbortSignal.timeout(opts.requestTimeoutMs ?? 2_000),
        headers: { connection: "close" },
      });
      await r.arrayBuffer();
      if (r.status === t.status) return { ok: true, attempts, last: `HTTP ${r.status}` };
      last = `GET ${t.path} answered ${r.status}, expected ${t.status}`;
    } catch (e) {
      last = `GET ${t.path} failed: ${(e as Error).cause ? String((e as Error).cause) : (e as Error).message}`;
    }
    if (opts.gone && Date.now() >= nextGoneCheck) {
      const reason = await opts.gone();
      if (reason !== undefined)
        return { ok: false, gone: true, attempts, last: `${reason} (last probe: ${last})` };
      nextGoneCheck = Date.now() + (opts.goneEveryMs ?? 1000);
    }
    await new Promise((r) => setTimeout(r, wait));
    wait = Math.min(wait * 2, longest);
  }
  return { ok: false, attempts, last };
}
