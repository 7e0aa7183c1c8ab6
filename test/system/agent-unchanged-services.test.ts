// A release that changes one start-first service leaves the others alone: against the real agent,
// Docker, Compose and HAProxy, a web-only release keeps the worker's container (same id, same
// start), a worker-only release keeps the web's (and its proxy servers), a failed web release
// rolls back without touching the worker, and the agent's recovery keeps every kept container.
// Keep-alive clients hammer the route throughout, and no request may fail.
import { Agent as HttpAgent } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Manifest } from "../../contract/manifest/schema";
import { run } from "../../lib/process";
import { AgentHarness, appManifest, httpGet } from "./support/agent-harness";
import { testAppImage } from "./support/test-app-image";

// Unique to this run: Compose project names are global to the Docker Engine.
const ENV = `unchanged-${Math.random().toString(36).slice(2, 6)}`;
const HOST = `${ENV}.test`;
const h = new AgentHarness();
let image = "";

beforeAll(async () => {
  image = await testAppImage();
  await h.start({ healthTimeoutSeconds: 20 });
}, 600_000);
afterAll(async () => {
  await h.cleanup([ENV]);
});

/** The test app (store + web) with a worker: a second start-first service with no route. */
function app(o: { web: string; worker: string; broken?: boolean }): Manifest {
  const m = appManifest({ message: o.web, image, host: HOST, ...(o.broken ? { broken: true } : {}) });
  const { health: _probe, ...web } = m.services.web as Manifest["services"][string];
  const worker = { ...web, environment: { ROLE: { value: "web" }, MESSAGE: { value: o.worker } } };
  return { ...m, order: [...m.order, "worker"], services: { ...m.services, worker } };
}

/** Each service's running container: its project, id and Docker's start time. */
async function running(): Promise<Record<string, { project: string; id: string; startedAt: string }>> {
  const ps = await run("docker", [
    "ps",
    "--no-trunc",
    "--filter",
    `label=berth.environment=${ENV}`,
    "--format",
    '{{.ID}}\t{{.Label "berth.service"}}\t{{.Label "com.docker.compose.project"}}',
  ]);
  const out: Record<string, { project: string; id: string; startedAt: string }> = {};
  for (const line of ps.stdout.trim().split("\n").filter(Boolean)) {
    const [id = "", service = "", project = ""] = line.split("\t");
    const startedAt = (
      await run("docker", ["inspect", "--format", "{{.State.StartedAt}}", id])
    ).stdout.trim();
    expect(out[service], `two running containers of ${service}`).toBeUndefined();
    out[service] = { project, id, startedAt };
  }
  return out;
}

/** Waits (bounded) until the previous release's containers are gone: one per service. */
async function settled(): Promise<Awaited<ReturnType<typeof running>>> {
  for (let end = Date.now() + 30_000; Date.now() < end; ) {
    const all = await h.containers(ENV);
    if (new Set(all.map((c) => c.service)).size === all.length) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return running();
}

describe("a release leaves the services it does not change alone", () => {
  it("keeps the worker through a web-only release, the web through a worker-only one, with no failed request", async () => {
    const v1 = await h.deploy(ENV, 1, app({ web: "v1", worker: "w1" }));
    expect(v1.state, v1.error).toBe("applied");
    const before = await settled();
    // A first release starts every service in one Compose call, in the long-lived project.
    expect(before.worker?.project).toBe(`berth_${ENV}`);
    expect(before.web?.project).toBe(`berth_${ENV}`);

    const published = new Set(["v1"]);
    const agent = new HttpAgent({ keepAlive: true, maxSockets: 4 });
    const failures: string[] = [];
    let ok = 0;
    let stop = false;
    const client = async () => {
      const deadline = Date.now() + 120_000;
      for (let n = 0; n < 100_000 && !stop && Date.now() < deadline; n++) {
        try {
          const r = await httpGet(h.proxyPort, "/", HOST, agent);
          if (r.status === 200 && published.has(r.body)) ok++;
          else failures.push(`HTTP ${r.status}: ${r.body.slice(0, 60)}`);
        } catch (e) {
          failures.push((e as Error).message);
        }
      }
    };
    const clients = [client(), client(), client(), client()];
    try {
      // Web only: the worker keeps its container, in the project release 1 started it in.
      published.add("v2");
      const v2 = await h.deploy(ENV, 2, app({ web: "v2", worker: "w1" }));
      expect(v2.state, v2.error).toBe("applied");
      const after2 = await settled();
      expect(after2.worker).toEqual(before.worker);
      expect(after2.web?.project).toBe(`berth_${ENV}_r2`);
      expect(after2.web?.id).not.toBe(before.web?.id);
      expect(after2.store).toEqual(before.store);
      expect(h.agent.store(ENV).readMetadata(2).projects).toEqual({
        store: `berth_${ENV}`,
        web: `berth_${ENV}_r2`,
        worker: `berth_${ENV}`,
      });

      // Worker only: the web keeps its container and its proxy server.
      const v3 = await h.deploy(ENV, 3, app({ web: "v2", worker: "w2" }));
      expect(v3.state, v3.error).toBe("applied");
      const after3 = await settled();
      expect(after3.web).toEqual(after2.web);
      expect(after3.worker?.project).toBe(`berth_${ENV}_r3`);
      expect(after3.worker?.id).not.toBe(before.worker?.id);

      // A web release that never becomes healthy: rolled back, the worker untouched.
      const v4 = await h.deploy(ENV, 4, app({ web: "v4", worker: "w2", broken: true }));
      expect(v4.state).toBe("rolled-back");
      const after4 = await settled();
      expect(after4).toEqual(after3);

      // The agent's recovery (as after a restart) removes none of the kept containers.
      await h.agent.recover(ENV);
      expect(await running()).toEqual(after3);
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      stop = true;
      await Promise.all(clients);
      agent.destroy();
    }
    expect(failures.slice(0, 5), `${failures.length} failed of ${ok + failures.length}`).toEqual([]);
    expect(ok).toBeGreaterThan(0);
    expect(await h.get("/", HOST)).toEqual({ status: 200, body: "v2" });
  });
});
