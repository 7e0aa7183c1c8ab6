// A one-off service (a migration: it exits 0 and `restart: "no"` leaves it so) through the loader
// and the real agent on real Docker: it counts as done, as Compose's `service_completed_successfully`
// does, not as a service that failed to stay running; the service that waits for it starts and
// serves. A one-off that fails still fails the release at once, saying what happened (the service,
// its exit code, its last log lines), and the release before keeps serving.
import { rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadCompose } from "../../contract/compose";
import type { Manifest } from "../../contract/manifest/schema";
import { DEFAULT_FILES_ROOT } from "../../node-agent/apply/files";
import { AgentHarness } from "./support/agent-harness";
import { testAppImage } from "./support/test-app-image";

const ENV = `oneoff-${Math.random().toString(36).slice(2, 6)}`;
const h = new AgentHarness();
let image = "";

/**
 * migrate appends a line to the volume and exits; web (the test app's store role) serves the
 * volume once migrate completed, with a Docker healthcheck (so Compose runs with --wait); notify,
 * with no volume, is a one-off of the release's own project (the start-first group).
 */
function manifest(o: {
  migrateExit: number;
  message: string;
  notify?: { exit: number; restart: string };
}): Manifest {
  const text = `services:
  migrate:
    image: ${image}
    command: ["sh", "-c", "echo migrated >> /data/migrations; echo migration ${o.message} ends with ${o.migrateExit}; exit ${o.migrateExit}"]
    restart: "no"
    volumes: [data:/data]
  web:
    image: ${image}
    environment: { ROLE: store, MESSAGE: ${o.message} }
    volumes: [data:/data]
    depends_on:
      migrate: { condition: service_completed_successfully }
    healthcheck:
      test: ["CMD", "busybox", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:9000/migrations"]
      interval: 1s
      retries: 20
  notify:
    image: ${image}
    command: ["sh", "-c", "echo notified ${o.message}; exit ${o.notify?.exit ?? 0}"]
    restart: ${JSON.stringify(o.notify?.restart ?? "no")}
volumes:
  data: {}
x-berth-routes:
  - { service: web, port: 9000, host: app.test }
`;
  const r = loadCompose(text, { file: "compose.yaml" });
  if (!r.ok) throw new Error(r.problems.map((p) => `${p.path}: ${p.message}`).join("\n"));
  return r.manifest;
}

beforeAll(async () => {
  image = await testAppImage();
  await h.start({ healthTimeoutSeconds: 30 });
}, 600_000);

afterAll(async () => {
  await h.cleanup([ENV]);
  rmSync(join(DEFAULT_FILES_ROOT, h.nodeId, ENV), { recursive: true, force: true });
});

describe("a one-off service", () => {
  it("that exits 0 counts as done: the first release applies and the app serves what it did", async () => {
    const s = await h.deploy(ENV, 1, manifest({ migrateExit: 0, message: "one" }));
    expect(s.state, `${s.error}\n${s.logTail}`).toBe("applied");
    expect(await h.get("/migrations", "app.test")).toEqual({ status: 200, body: "migrated" });
    const cs = await h.containers(ENV);
    expect(cs.filter((c) => c.service === "web").map((c) => c.state)).toEqual(["running"]);
  }, 180_000);

  it("runs again with an upgrade, which applies", async () => {
    const s = await h.deploy(ENV, 2, manifest({ migrateExit: 0, message: "two" }));
    expect(s.state, `${s.error}\n${s.logTail}`).toBe("applied");
    expect((await h.get("/migrations", "app.test")).body).toBe("migrated\nmigrated");
  }, 180_000);

  it("that fails fails the release; the release before keeps serving", async () => {
    const s = await h.deploy(ENV, 3, manifest({ migrateExit: 3, message: "three" }));
    expect(s.state).toBe("rolled-back");
    // What happened, not a health wait: the service, its exit code and its last log lines.
    expect(s.error).toContain(
      'service migrate exited with code 3 (a one-off, restart: "no"): its last log lines:\nmigration three ends with 3',
    );
    expect(s.error).not.toMatch(/did not become healthy/);
    expect(s.logTail).toContain("migration three ends with 3");
    expect((await h.get("/migrations", "app.test")).status).toBe(200);
  }, 180_000);

  it("that fails under on-failure (Docker restarts it) fails the release at once, saying so", async () => {
    const s = await h.deploy(
      ENV,
      4,
      manifest({ migrateExit: 0, message: "four", notify: { exit: 3, restart: "on-failure" } }),
    );
    expect(s.state).toBe("rolled-back");
    expect(s.error).toContain(
      "service notify exited with code 3 (a one-off, restart: on-failure): its last log lines:\nnotified four",
    );
    expect((await h.get("/migrations", "app.test")).status).toBe(200);
  }, 180_000);
});
