// Keep-alive clients hammering one HTTP address with a Host header, bounded in count and time, for
// zero-downtime checks on the swarm test bed (swarm-agents.test.ts) and bench:swarm. A failure is
// an error or an answer other than 200 with one of the accepted bodies; each is counted with its
// words and when it happened.
import { Agent as HttpAgent, request } from "node:http";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** GET / from `ip:port` with `host` as the Host header, on `agent`. */
export function getFrom(
  target: { ip: string; port: number },
  host: string,
  agent: HttpAgent,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: target.ip, port: target.port, path: "/", headers: { host }, agent, timeout: 10_000 },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c) => {
          body += c;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: body.trim() }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

export interface LoadCounts {
  ok: number;
  failed: number;
  firstFailure: number;
  lastFailure: number;
  errors: Map<string, number>;
}

/**
 * `clients` keep-alive clients on `target()` until stopped, or until `maxRequests` each or
 * `maxMs` have passed (whichever first): the loops always end by themselves.
 */
export function keepAliveLoad(
  target: () => { ip: string; port: number },
  host: string,
  accepted: Set<string>,
  o: { clients?: number; maxRequests?: number; maxMs?: number } = {},
) {
  const n = o.clients ?? 4;
  const agent = new HttpAgent({ keepAlive: true, maxSockets: n });
  const counts: LoadCounts = { ok: 0, failed: 0, firstFailure: 0, lastFailure: 0, errors: new Map() };
  let stop = false;
  const client = async () => {
    const deadline = Date.now() + (o.maxMs ?? 600_000);
    for (let i = 0; i < (o.maxRequests ?? 2_000_000) && !stop && Date.now() < deadline; i++) {
      let why: string | undefined;
      try {
        const r = await getFrom(target(), host, agent);
        if (r.status !== 200 || !accepted.has(r.body)) why = `HTTP ${r.status} ${r.body.slice(0, 40)}`;
      } catch (e) {
        why = (e as Error).message;
      }
      if (why === undefined) counts.ok++;
      else {
        counts.failed++;
        counts.lastFailure = Date.now();
        if (!counts.firstFailure) counts.firstFailure = counts.lastFailure;
        counts.errors.set(why, (counts.errors.get(why) ?? 0) + 1);
        await sleep(10);
      }
    }
  };
  const clients = Array.from({ length: n }, () => client());
  return {
    counts,
    async stop(): Promise<LoadCounts> {
      stop = true;
      await Promise.all(clients);
      agent.destroy();
      return counts;
    },
  };
}
