// Zero downtime through the node proxy: 4 keep-alive clients send requests the whole time the
// agent applies 5 consecutive upgrades of the web service; every request must succeed.
import { Agent as HttpAgent } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentHarness, appManifest, httpGet } from "./support/agent-harness";
import { testAppImage } from "./support/test-app-image";

const ENV = "upgrades";
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
    expect((await h.deploy(ENV, 1, appManifest({ message: "v1", image }))).state).toBe("applied");
    const published = new Set(["v1"]);
    const agent = new HttpAgent({ keepAlive: true, maxSockets: 4 });
    let ok = 0;
    const failures: string[] = [];
    let stop = false;
    const client = async () => {
      const deadline = Date.now() + 240_000;
      for (let n = 0; n < 200_000 && !stop && Date.now() < deadline; n++) {
        try {
          const r = await httpGet(h.proxyPort, "/", "app.test", agent);
          if (r.status === 200 && published.has(r.body)) ok++;
          else failures.push(`HTTP ${r.status}: ${r.body.slice(0, 60)}`);
        } catch (e) {
          failures.push((e as Error).message);
        }
      }
    };
    const clients = [client(), client(), client(), client()];
    try {
      for (let seq = 2; seq <= 6; seq++) {
        published.add(`v${seq}`);
        const status = await h.deploy(ENV, seq, appManifest({ message: `v${seq}`, image }));
        expect(status.state, status.error).toBe("applied");
      }
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      stop = true;
      await Promise.all(clients);
      agent.destroy();
    }
    console.log(`zero-downtime: ${ok} requests, ${failures.length} failed over 5 upgrades`);
    expect(failures.slice(0, 5)).toEqual([]);
    expect(ok).toBeGreaterThan(500);
    expect((await h.get("/")).body).toBe("v6");
    const web = (await h.containers(ENV)).filter((c) => c.service === "web");
    expect(web.map((c) => c.release)).toEqual(["6"]);
  });
});
