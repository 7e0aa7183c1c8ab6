// The agent's HaproxyControl starting and reloading a real HAProxy (master-worker, as on the
// local node): a reload right after a start or another reload is acted on, and a socket that does
// not answer for a moment never makes the agent start a second HAProxy over the first. Everything
// on 127.0.0.1; no Docker.
import { mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../../lib/log";
import { HaproxyControl } from "../../node-agent/proxy/haproxy-control";
import { runsConfig } from "../../node-agent/proxy/haproxy-master";
import { backendName } from "../../node-agent/proxy/names";

const log = createLogger("haproxy-reload-test", { write: () => undefined });
const controls: HaproxyControl[] = [];
const dirs: string[] = [];

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function control(): Promise<HaproxyControl> {
  const dir = mkdtempSync(join(tmpdir(), "berth-haproxy-reload-"));
  dirs.push(dir);
  const c = new HaproxyControl({ dir: join(dir, "proxy"), bind: `127.0.0.1:${await freePort()}`, log });
  controls.push(c);
  return c;
}

const route = (host: string) => ({ environmentId: host.split(".")[0] as string, host });

/** The processes running this configuration (a master and its worker per HAProxy). */
function processesOf(configPath: string): number[] {
  return readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return runsConfig(readFileSync(`/proc/${p}/cmdline`, "utf8"), configPath);
      } catch {
        return false;
      }
    })
    .map(Number);
}

afterEach(async () => {
  for (const c of controls.splice(0)) {
    await c.stop().catch(() => undefined);
    for (const pid of processesOf(c.configPath)) process.kill(pid, "SIGKILL");
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("HaproxyControl with a real HAProxy", () => {
  // HAProxy's master ignores SIGUSR2 until it enters its loop, after its worker already answers:
  // a reload signalled then was lost (4 starts in 12 at a load of ~9), and the apply that needed
  // the new route failed with "the old worker still answers" (node-agent/proxy/haproxy-master.ts).
  it("a route added right after the start, and another right after that reload, are both served", async () => {
    for (let round = 0; round < 5; round++) {
      const c = await control();
      await c.ensureRoutes([route("a.test")]);
      await c.ensureRoutes([route("a.test"), route("b.test")]);
      await c.ensureRoutes([route("a.test"), route("b.test"), route("c.test")]);
      for (const host of ["a.test", "b.test", "c.test"])
        expect(
          (await c.api.showServers(backendName(host))).length,
          `round ${round}: ${host}`,
        ).toBeGreaterThan(0);
      expect(processesOf(c.configPath)).toHaveLength(2);
      await c.stop();
    }
  });

  it("a socket that does not answer for a moment: start() waits for the running HAProxy, and starts no second one", async () => {
    const c = await control();
    await c.ensureRoutes([route("a.test")]);
    const before = processesOf(c.configPath);
    expect(before).toHaveLength(2);
    const pidFile = join(c.configPath, "..", "haproxy.pid");
    const master = readFileSync(pidFile, "utf8").trim();
    // The socket's file away for 500 ms: connections fail (ENOENT), as they do when the answer is late.
    renameSync(c.socketPath, `${c.socketPath}.away`);
    const started = c.start();
    await new Promise((r) => setTimeout(r, 500));
    renameSync(`${c.socketPath}.away`, c.socketPath);
    await started;
    expect(processesOf(c.configPath).sort()).toEqual(before.sort());
    expect(readFileSync(pidFile, "utf8").trim()).toBe(master);
    // And the route still reloads through the same master.
    await c.ensureRoutes([route("a.test"), route("b.test")]);
    expect((await c.api.showServers(backendName("b.test"))).length).toBeGreaterThan(0);
  });
});
