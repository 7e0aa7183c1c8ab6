// A first release's apply against a fake Docker: its routes switch as soon as Docker's container
// list shows every service running and healthy, while Compose's `up --wait` (which looks only
// every 500 ms) has not answered yet; Compose's answer is still awaited before the release counts,
// and a failure it reports then rolls the release back.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseManifest } from "../../contract/manifest/schema";
import {
  createReleasePayload,
  generateNodeKeyPair,
  generateSigningKeyPair,
  serializeEnvelope,
  signRelease,
} from "../../contract/payload";
import { renderNodeCompose } from "../../contract/render/node-compose";
import { createLogger } from "../../lib/log";
import { ProcessError } from "../../lib/process";
import type { ContainerStatus } from "../compose/ready";
import type { DockerRunner } from "../docker";
import { releaseOf } from "../state/release";
import { ReleaseStore } from "../state/release-store";
import { Applier } from "./apply";
import type { ProxyControl } from "./proxy-control";

const ENV = "shop";
const IMAGE = `registry.test/web@sha256:${"a".repeat(64)}`;

function release(seq: number) {
  const manifest = parseManifest({
    formatVersion: 1,
    order: ["web"],
    services: {
      web: {
        image: IMAGE,
        environment: {},
        volumes: [],
        dependsOn: {},
        resources: {},
        updateOrder: "start-first",
        expose: [],
        labels: {},
        networks: { default: { aliases: [] } },
        healthcheck: { test: ["CMD", "true"], disable: false },
        restart: "unless-stopped",
      },
    },
    volumes: {},
    networks: {},
    routes: [{ service: "web", port: 8080, host: "shop.test" }],
    routeHints: [],
    extensions: {},
  });
  const r = renderNodeCompose(manifest, { environmentId: ENV, sequence: seq, images: { web: IMAGE } });
  const payload = createReleasePayload({
    environmentId: ENV,
    nodeId: "node-1",
    sequence: seq,
    composeText: r.text,
    routes: [{ service: "web", port: 8080, host: "shop.test" }],
    secrets: {},
    nodePublicKey: generateNodeKeyPair().publicKey,
  });
  const text = serializeEnvelope(signRelease(payload, generateSigningKeyPair().privateKey));
  const store = new ReleaseStore(mkdtempSync(join(tmpdir(), "berth-first-early-")), ENV);
  store.save(seq, {
    payload: text,
    compose: payload.compose.text,
    metadata: { sequence: seq, receivedAt: new Date().toISOString(), project: `berth-${ENV}-${seq}` },
  });
  return { store, release: releaseOf(payload, text) };
}

/** A Docker whose `compose up` answers only when `answer` is called (or fails, with `fail`). */
function fakeDocker() {
  let answer: () => void = () => {};
  let fail: (e: Error) => void = () => {};
  const upAnswered = new Promise<void>((resolve, reject) => {
    answer = resolve;
    fail = reject;
  });
  upAnswered.catch(() => undefined);
  const events: string[] = [];
  const run: DockerRunner = async (cmd) => {
    const argv = [cmd.file, ...cmd.args];
    const line = argv.join(" ");
    if (line.includes(" up ") && line.includes("--wait")) {
      events.push("compose up");
      await upAnswered;
      events.push("compose up answered");
    }
    return { command: line, stdout: "", stderr: "", exitCode: 0 };
  };
  return { run, events, answer: () => answer(), fail: (e: Error) => fail(e) };
}

function proxy(events: string[]): ProxyControl {
  return {
    async ensureRoutes() {},
    async switchRoute(route, upstreams) {
      events.push(upstreams.length > 0 ? `switch ${route.host}` : `switch back ${route.host}`);
    },
    async upstreamsOf() {
      return [];
    },
    async installCertificates() {},
    async removeRoute() {},
  };
}

const ready: ContainerStatus[] = [
  {
    Labels: { "com.docker.compose.project": `berth-${ENV}-stateful`, "com.docker.compose.service": "web" },
    State: "running",
    Status: "Up 1 second (healthy)",
  },
];

function applier(docker: ReturnType<typeof fakeDocker>, containers: () => ContainerStatus[]) {
  const log = createLogger("first-release-early-test");
  log.level = "silent";
  return new Applier({
    docker: docker.run,
    proxy: proxy(docker.events),
    log,
    healthTimeoutSeconds: 30,
    unseal: () => ({}),
    portLookup: async () => ({ host: "127.0.0.1", port: 40000 }),
    containers: async (project) =>
      containers().map((c) => ({
        ...c,
        Labels: { ...c.Labels, "com.docker.compose.project": project },
      })),
  });
}

describe("a first release's apply", () => {
  it("switches its routes once Docker shows every service healthy, before Compose's --wait answers", async () => {
    const docker = fakeDocker();
    const { store, release: r } = release(1);
    // Compose answers once the route has switched (or after a bound, when the switch waits for it).
    const bound = setTimeout(() => docker.answer(), 15_000);
    const watching = (async () => {
      while (!docker.events.includes("switch shop.test") && docker.events.length < 100)
        await new Promise((res) => setTimeout(res, 10));
      docker.answer();
    })();
    const outcome = await applier(docker, () => ready).apply(store, r);
    clearTimeout(bound);
    await watching;
    expect(outcome.state).toBe("applied");
    expect(docker.events).toEqual(["compose up", "switch shop.test", "compose up answered"]);
    expect(store.current()).toBe(1);
  }, 30_000);

  it("waits for Compose while Docker does not show every service healthy", async () => {
    const docker = fakeDocker();
    const { store, release: r } = release(1);
    let looks = 0;
    const starting = [{ ...ready[0], Status: "Up 1 second (health: starting)" }] as ContainerStatus[];
    const waiting = applier(docker, () => {
      looks++;
      return starting;
    }).apply(store, r);
    while (looks < 3) await new Promise((res) => setTimeout(res, 10));
    expect(docker.events).toEqual(["compose up"]);
    docker.answer();
    const outcome = await waiting;
    expect(outcome.state).toBe("applied");
    expect(docker.events).toEqual(["compose up", "compose up answered", "switch shop.test"]);
  }, 30_000);

  it("fails and rolls back when Compose reports a failure after the early switch", async () => {
    const docker = fakeDocker();
    const { store, release: r } = release(1);
    const watching = (async () => {
      while (!docker.events.includes("switch shop.test")) await new Promise((res) => setTimeout(res, 10));
      docker.fail(
        new ProcessError("docker compose up exited with 1", {
          command: "docker compose up",
          stdout: "",
          stderr: "container shop-web-1 is unhealthy",
          exitCode: 1,
        }),
      );
    })();
    const outcome = await applier(docker, () => ready).apply(store, r);
    await watching;
    expect(outcome.state).toBe("failed");
    expect(outcome.error).toMatch(/did not become healthy within 30 s: container shop-web-1 is unhealthy/);
    expect(store.current()).toBeUndefined();
  }, 30_000);
});
