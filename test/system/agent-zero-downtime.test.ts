// Zero downtime through the node proxy: 4 keep-alive clients send requests the whole time the
// agent applies 5 consecutive upgrades of the web service; every request must succeed, each
// release must have served some of them, and at the end every client is on the last release.
import { Agent as HttpAgent } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentHarness, appManifest, httpGet } from "./support/agent-harness";
import { testAppImage } from "./support/test-app-image";

// Unique to this run: Compose project names are global to the Docker Engine.
const ENV = `zero-downtime-${Math.random().toString(36).slice(2, 6)}`;
const HOST = `${ENV}.test`;
const CLIENTS = 4;
const h = new AgentHarness();
let image = "";

beforeAll(async () => {
  image = await testAppImage();
  await h.start({ healthTimeoutSeconds: 30 });
}, 600_000);
afterAll(async () => {
  await h.cleanup([ENV]);
});

describe("upgrades under load", () => {
  it("serves every request during 5 consecutive upgrades of the web service", async () => {
    const v1 = await h.deploy(ENV, 1, appManifest({ message: "v1", image, host: HOST }));
    expect(v1.state, v1.error).toBe("applied");
    const published = new Set(["v1"]);
    const agent = new HttpAgent({ keepAlive: true, maxSockets: CLIENTS });
    const served = new Map<string, number>();
    const last: string[] = [];
    const failures: string[] = [];
    let stop = false;
    const client = async (i: number) => {
      const deadline = Date.now() + 240_000;
      for (let n = 0; n < 200_000 && !stop && Date.now() < deadline; n++) {
        try {
          const r = await httpGet(h.proxyPort, "/", HOST, agent);
          if (r.status === 200 && published.has(r.body)) {
            served.set(r.body, (served.get(r.body) ?? 0) + 1);
            last[i] = r.body;
          } else failures.push(`HTTP ${r.status}: ${r.body.slice(0, 60)}`);
        } catch (e) {
          failures.push((e as Error).message);
        }
      }
    };
    const clients = Array.from({ length: CLIENTS }, (_, i) => client(i));
    const started = Date.now();
    try {
      for (let seq = 2; seq <= 6; seq++) {
        published.add(`v${seq}`);
        const status = await h.deploy(ENV, seq, appManifest({ message: `v${seq}`, image, host: HOST }));
        expect(status.state, status.error).toBe("applied");
      }
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      stop = true;
      await Promise.all(clients);
      agent.destroy();
    }
    const ok = [...served.values()].reduce((a, b) => a + b, 0);
    const perVersion = [...served.entries()].map(([v, n]) => `${v} ${n}`).join(", ");
    console.log(
      `zero-downtime: ${ok + failures.length} requests, ${failures.length} failed over 5 upgrades ` +
        `(${CLIENTS} keep-alive clients, ${((Date.now() - started) / 1000).toFixed(1)} s; ${perVersion})`,
    );
    expect(failures.slice(0, 5)).toEqual([]);
    expect(ok).toBeGreaterThan(500);
    // Traffic went through every release in turn and ended on the last one.
    expect([...served.keys()].sort()).toEqual(["v1", "v2", "v3", "v4", "v5", "v6"]);
    expect(last).toEqual(Array(CLIENTS).fill("v6"));
    expect(await h.get("/", HOST)).toEqual({ status: 200, body: "v6" });
    const cs = await h.containers(ENV);
    expect(cs.map((c) => `${c.project}/${c.service}`).sort()).toEqual([
      `berth_${ENV}/store`,
      `berth_${ENV}_r6/web`,
    ]);
  });
});
