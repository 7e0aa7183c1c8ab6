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
  attempts: number;
  last: string;
}

export async function probeUntilHealthy(
  t: ProbeTarget,
  opts: { timeoutMs: number; intervalMs?: number; requestTimeoutMs?: number },
): Promise<ProbeResult> {
  const deadline = Date.now() + opts.timeoutMs;
  const url = `http://${t.host.includes(":") ? `[${t.host}]` : t.host}:${t.port}${t.path}`;
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
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 250));
  }
  return { ok: false, attempts, last };
}
