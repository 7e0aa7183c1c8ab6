// The node agent against real Docker Engine, Compose v2 and HAProxy: releases v1 → v2 → v3 of
// a two-service app, a release that never becomes healthy, refused payloads, one apply at a time,
// and teardown.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readStatus } from "../../contract/channel/publish";
import { generateSigningKeyPair } from "../../contract/payload";
import { LockHeldError } from "../../node-agent/state/lock";
import { AgentHarness, appManifest } from "./support/agent-harness";
import { testAppImage } from "./support/test-app-image";

// Unique to this run: Compose project, network and volume names are global to the Docker Engine,
// and another checkout's test run may share it.
const ENV = `shop-${Math.random().toString(36).slice(2, 6)}`;
const FIRST = `first-${Math.random().toString(36).slice(2, 6)}`;
const h = new AgentHarness();
let image = "";

const starts = () =>
  readFileSync(join(h.volumeRoot, `berth-env-${ENV}`, "volumes", "data", "data", "starts"), "utf8")
    .trim()
    .split("\n").length;

beforeAll(async () => {
  image = await testAppImage();
  await h.start({ healthTimeoutSeconds: 20 });
}, 600_000);
afterAll(async () => {
  await h.cleanup([ENV, "gone", FIRST]);
});

describe("the node agent applying releases", () => {
  it("applies release 1: both services up, the route answers through the proxy", async () => {
    const status = await h.deploy(ENV, 1, appManifest({ message: "v1", image }));
    expect(status, `${status.error}\n${status.logTail}`).toMatchObject({
      state: "applied",
      appliedSequence: 1,
      attemptedSequence: 1,
    });
    expect(await h.get("/")).toEqual({ status: 200, body: "v1" });
    expect(await h.get("/token-length")).toEqual({ status: 200, body: String(h.token.length) });
    expect(starts()).toBe(1);
    const cs = await h.containers(ENV);
    expect(cs.map((c) => `${c.project}/${c.service}/${c.release}/${c.state}`).sort()).toEqual([
      `berth_${ENV}/store//running`,
      // A first release starts every service in one Compose call, in the long-lived project.
      `berth_${ENV}/web/1/running`,
    ]);
  });

  it("upgrades to 2 and 3: the new web replaces the old, the store's data survives", async () => {
    const status2 = await h.deploy(ENV, 2, appManifest({ message: "v2", image }));
    expect(status2.state).toBe("applied");
    expect(await h.get("/")).toEqual({ status: 200, body: "v2" });
    // The store did not change: it was not restarted.
    expect(starts()).toBe(1);
    const status3 = await h.deploy(ENV, 3, appManifest({ message: "v3", image, storeVersion: "2" }));
    expect(status3.state).toBe("applied");
    expect(await h.get("/")).toEqual({ status: 200, body: "v3" });
    // The store changed: recreated (stop-first) on the same volume, its earlier data still there.
    expect(starts()).toBe(2);
    const cs = await h.containers(ENV);
    expect(cs.filter((c) => c.service === "web").map((c) => c.project)).toEqual([`berth_${ENV}_r3`]);
    expect(h.agent.store(ENV).current()).toBe(3);
  });

  it("rolls back a release whose web never becomes healthy; the old one keeps answering", async () => {
    const status = await h.deploy(
      ENV,
      4,
      appManifest({ message: "v4-broken", image, broken: true, storeVersion: "2" }),
    );
    expect(status.state).toBe("rolled-back");
    expect(status.appliedSequence).toBe(3);
    expect(status.error).toMatch(/release 4 failed and was rolled back to release 3: .*web/);
    expect(await h.get("/")).toEqual({ status: 200, body: "v3" });
    const cs = await h.containers(ENV);
    expect(cs.some((c) => c.project === `berth_${ENV}_r4`)).toBe(false);
    expect(h.agent.store(ENV).current()).toBe(3);
    // A failed release is not retried until a newer one is published.
    await h.agent.pollOnce();
    expect((await readStatus(h.channel, h.nodeId, ENV))?.attemptedSequence).toBe(4);
  });

  it("refuses tampered, expired, replayed, foreign-node and unknown-key payloads, each with its reason", async () => {
    const m = appManifest({ message: "evil", image, storeVersion: "2" });
    const expectRejected = async (seq: number, code: string) => {
      await h.agent.pollOnce();
      const s = await readStatus(h.channel, h.nodeId, ENV);
      expect(s).toMatchObject({ state: "rejected", attemptedSequence: seq, appliedSequence: 3 });
      expect(s?.error).toMatch(new RegExp(`was rejected: ${code}: (?!${code})`)); // the code once, then the reason
      expect(await h.get("/")).toEqual({ status: 200, body: "v3" });
      expect((await h.containers(ENV)).filter((c) => c.service === "web").map((c) => c.release)).toEqual([
        "3",
      ]);
    };
    const envelope = await h.publish(ENV, 5, m);
    const tampered = envelope.replace('"sequence":5', '"sequence":50');
    await h.channel.put(`nodes/${h.nodeId}/environments/${ENV}/releases/5.json`, tampered);
    await expectRejected(5, "BAD_SIGNATURE");
    await h.publish(ENV, 6, m, { expiresAt: new Date(Date.now() - 600_000) });
    await expectRejected(6, "EXPIRED");
    await h.publish(ENV, 7, m, { signing: generateSigningKeyPair() });
    await expectRejected(7, "UNKNOWN_KEY");
    await h.publish(ENV, 8, m, { nodeId: "node-2" });
    await expectRejected(8, "WRONG_NODE");
    await h.publish(ENV, 2, m);
    await expectRejected(2, "STALE_SEQUENCE");
  });

  it("refuses a second apply of the same environment while one runs", async () => {
    const lock = h.agent.store(ENV).lock();
    try {
      await h.publish(ENV, 9, appManifest({ message: "v9", image, storeVersion: "2" }));
      await expect(h.agent.converge(ENV, 9)).rejects.toThrow(LockHeldError);
    } finally {
      lock.release();
    }
    expect((await h.agent.converge(ENV, 9))?.state).toBe("applied");
    expect(await h.get("/")).toEqual({ status: 200, body: "v9" });
  });

  it("rolls back at once a release whose web exits before its health probe passes (no --wait to notice)", async () => {
    const m = appManifest({ message: "v10-crash", image, storeVersion: "2" });
    const web = m.services.web as (typeof m.services)[string];
    // No Docker healthcheck: Compose starts it without --wait; the crash is seen by the probe's check.
    const { healthcheck: _none, ...rest } = web;
    m.services.web = { ...rest, environment: { ...web.environment, ROLE: { value: "crash" } } };
    const t0 = Date.now();
    const status = await h.deploy(ENV, 10, m);
    expect(status.state).toBe("rolled-back");
    // The rendered service restarts unless stopped: the crash loop ends the probe.
    expect(status.error).toMatch(
      /web stopped before it passed its health probe: its container keeps restarting/,
    );
    // Well before the 20 s health timeout: the exit ended the probe.
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(await h.get("/")).toEqual({ status: 200, body: "v9" });
  });

  it("holds a release until a service with no health check has run 2 s since its own start; one that keeps crashing is rolled back", async () => {
    /** v9's app plus a worker with no Docker healthcheck and no probe: only "running and stable" checks it. */
    const withWorker = (message: string, role: string) => {
      const m = appManifest({ message, image, storeVersion: "2" });
      const { healthcheck: _h, health: _p, ...web } = m.services.web as (typeof m.services)[string];
      m.services.worker = {
        ...web,
        environment: { ROLE: { value: role }, PORT: { value: "8081" } },
        dependsOn: {},
      };
      m.order = [...m.order, "worker"];
      return m;
    };
    const ok = await h.deploy(ENV, 11, withWorker("v11", "web"));
    expect(ok, `${ok.error}\n${ok.logTail}`).toMatchObject({ state: "applied", appliedSequence: 11 });
    expect(await h.get("/")).toEqual({ status: 200, body: "v11" });
    // ROLE crash: the app exits at once (unknown role); its restart policy starts it again.
    const crashing = await h.deploy(ENV, 12, withWorker("v12", "crash"));
    expect(crashing.state).toBe("rolled-back");
    expect(crashing.error).toMatch(/rolled back to release 11: .*worker/);
    expect(await h.get("/")).toEqual({ status: 200, body: "v11" });
    expect(starts()).toBe(2);
  });

  it("a first release whose worker (no health check) keeps crashing fails after its route switched, and leaves nothing running", async () => {
    const m = appManifest({ message: "f1", image, host: `${FIRST}.test` });
    const { healthcheck: _h, health: _p, ...web } = m.services.web as (typeof m.services)[string];
    m.services.worker = {
      ...web,
      environment: { ROLE: { value: "crash" }, PORT: { value: "8081" } },
      dependsOn: {},
    };
    m.order = [...m.order, "worker"];
    const st = await h.deploy(FIRST, 1, m);
    expect(st.state).toBe("failed");
    expect(st.error).toMatch(/there is no previous release to return to.*worker/);
    expect(await h.containers(FIRST)).toEqual([]);
    expect((await h.get("/", `${FIRST}.test`)).status).not.toBe(200);
  });

  it("tears down an environment on a signed withdrawal, keeping its volume data", async () => {
    await h.withdraw(ENV);
    await h.agent.pollOnce();
    expect(await h.containers(ENV)).toEqual([]);
    expect((await readStatus(h.channel, h.nodeId, ENV))?.state).toBe("removed");
    expect(starts()).toBe(2);
    expect((await h.get("/")).status).toBe(404);
  });
});
