// A replicated web service (deploy.replicas: 3, update_config.parallelism: 1, start-first) behind
// the node's HAProxy: 4 keep-alive clients send requests the whole time the real agent applies 5
// consecutive upgrades; no request fails, every replica of the last release serves traffic, and
// the declared number of containers runs at the end. Its post_start and pre_stop hooks (run by
// the agent: the node's Compose 2.26 does not) write to a volume the web serves as /log, so the
// test reads which hook ran in which replica of which release.
import { Agent as HttpAgent } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Manifest } from "../../contract/manifest/schema";
import { AgentHarness, appManifest, httpGet } from "./support/agent-harness";
import { testAppImage } from "./support/test-app-image";

// Unique to this run: Compose project names are global to the Docker Engine.
const ENV = `replicas-${Math.random().toString(36).slice(2, 6)}`;
const HOST = `${ENV}.test`;
const CLIENTS = 4;
const REPLICAS = 3;
const h = new AgentHarness();
let image = "";

/** The sample app with its web service replicated; /id answers "<message> <container hostname>". */
function replicated(message: string): Manifest {
  const m = appManifest({ message, image, host: HOST });
  const web = m.services.web as Manifest["services"][string];
  web.replicas = REPLICAS;
  web.updateParallelism = 1;
  web.command = [
    "sh",
    "-c",
    'mkdir -p /www && echo "$MESSAGE $(hostname)" > /www/id && ln -sf /hooks/log /www/log && exec sh /app.sh',
  ];
  web.volumes = [{ source: "hooks", target: "/hooks", readOnly: false }];
  web.updateOrder = "start-first";
  const hook = (name: string) => ({
    command: ["sh", "-c", `echo "${name} $MESSAGE $(hostname)" >> /hooks/log`],
    environment: {},
  });
  web.postStart = [hook("post_start")];
  web.preStop = [hook("pre_stop")];
  m.volumes.hooks = { labels: {} };
  return m;
}

beforeAll(async () => {
  image = await testAppImage();
  await h.start({ healthTimeoutSeconds: 60 });
}, 600_000);
afterAll(async () => {
  await h.cleanup([ENV]);
});

describe("a replicated service upgraded under load", () => {
  it("serves every request during 5 upgrades, from every replica", async () => {
    const v1 = await h.deploy(ENV, 1, replicated("v1"));
    expect(v1.state, v1.error).toBe("applied");
    const published = new Set(["v1"]);
    const agent = new HttpAgent({ keepAlive: true, maxSockets: CLIENTS });
    /** version → replica hostname → requests it answered. */
    const served = new Map<string, Map<string, number>>();
    const last: string[] = [];
    const failures: string[] = [];
    let stop = false;
    const client = async (i: number) => {
      const deadline = Date.now() + 300_000;
      for (let n = 0; n < 200_000 && !stop && Date.now() < deadline; n++) {
        try {
          const r = await httpGet(h.proxyPort, "/id", HOST, agent);
          const [version = "", replica = ""] = r.body.trim().split(" ");
          if (r.status === 200 && published.has(version) && replica) {
            const m = served.get(version) ?? new Map<string, number>();
            m.set(replica, (m.get(replica) ?? 0) + 1);
            served.set(version, m);
            last[i] = version;
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
        const status = await h.deploy(ENV, seq, replicated(`v${seq}`));
        expect(status.state, status.error).toBe("applied");
      }
      // Until every client has had an answer of v6 and each replica of v6 has answered, not a
      // fixed second (bounded: the assertions below say what was missing).
      const settled = () =>
        Array.from({ length: CLIENTS }, (_, i) => last[i]).every((v) => v === "v6") &&
        (served.get("v6")?.size ?? 0) >= REPLICAS;
      for (const end = Date.now() + 30_000; !settled() && Date.now() < end; )
        await new Promise((r) => setTimeout(r, 50));
    } finally {
      stop = true;
      await Promise.all(clients);
      agent.destroy();
    }
    const count = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
    const ok = [...served.values()].map(count).reduce((a, b) => a + b, 0);
    const perVersion = [...served.entries()]
      .map(([v, m]) => `${v} ${count(m)} from ${m.size} replicas`)
      .join(", ");
    console.log(
      `replicas: ${ok + failures.length} requests, ${failures.length} failed over 5 upgrades of ${REPLICAS} replicas ` +
        `(${CLIENTS} keep-alive clients, ${((Date.now() - started) / 1000).toFixed(1)} s; ${perVersion})`,
    );
    expect(failures.slice(0, 5)).toEqual([]);
    expect(ok).toBeGreaterThan(500);
    expect([...served.keys()].sort()).toEqual(["v1", "v2", "v3", "v4", "v5", "v6"]);
    expect(last).toEqual(Array(CLIENTS).fill("v6"));
    // Traffic reached every replica of the last release.
    expect(served.get("v6")?.size).toBe(REPLICAS);
    // post_start ran once in each replica of each release, pre_stop in each replica replaced.
    const log = (await h.get("/log", HOST)).body.trim().split("\n");
    const lines = (hook: string, v: string) => log.filter((l) => l.startsWith(`${hook} ${v} `)).length;
    for (let v = 1; v <= 6; v++) {
      expect(lines("post_start", `v${v}`), `post_start of v${v} in ${log.join(" | ")}`).toBe(REPLICAS);
      expect(lines("pre_stop", `v${v}`), `pre_stop of v${v}`).toBe(v < 6 ? REPLICAS : 0);
    }
    const cs = await h.containers(ENV);
    expect(cs.map((c) => `${c.project}/${c.service}`).sort()).toEqual([
      `berth_${ENV}/store`,
      ...Array(REPLICAS).fill(`berth_${ENV}_r6/web`),
    ]);
  });
});
