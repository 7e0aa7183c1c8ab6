// A pinned manifest of a small app (web, worker, store with a volume) for the renderer's tests
// and the contract benchmark.
import { type Manifest, parseManifest } from "../manifest/schema";

export const DIGEST = `sha256:${"ab".repeat(32)}`;

export function sampleManifest(extraServices = 0): Manifest {
  const services: Record<string, unknown> = {
    store: {
      image: "registry.example/acme/store:1",
      environment: { STORE_DIR: { value: "/data" }, PRICE: { value: "$5" } },
      volumes: [{ source: "data", target: "/data", readOnly: false }],
      dependsOn: {},
      healthcheck: { test: ["CMD", "test", "-d", "/data"], intervalMs: 1000, retries: 3, disable: false },
      resources: { limits: { memory: 128 * 1024 * 1024 } },
      updateOrder: "stop-first",
      expose: [6379],
      labels: {},
      networks: { default: { aliases: [] } },
    },
    web: {
      build: { context: "web", args: {} },
      command: ["node", "server.js", "--greeting", "hello $USER"],
      environment: { STORE_URL: { value: "http://store:6379" }, API_TOKEN: { secret: "api-token" } },
      volumes: [],
      dependsOn: { store: { condition: "service_healthy", restart: true, required: true } },
      resources: {},
      updateOrder: "start-first",
      expose: [],
      labels: { "com.example.team": "web" },
      networks: { default: { aliases: [] }, backend: { aliases: ["api"] } },
      health: { path: "/healthz", port: 8081, status: 200 },
      stopGracePeriodMs: 10_000,
    },
    worker: {
      image: "registry.example/acme/worker:1",
      environment: {},
      volumes: [],
      dependsOn: { store: { condition: "service_started", restart: false, required: true } },
      resources: { limits: { cpus: 0.5 } },
      updateOrder: "start-first",
      expose: [],
      labels: {},
      networks: { backend: { aliases: [] } },
    },
  };
  const order = ["store", "web", "worker"];
  for (let i = 0; i < extraServices; i++) {
    services[`svc${i}`] = {
      image: `registry.example/acme/svc${i}:1`,
      environment: { INDEX: { value: String(i) }, SECRET: { secret: `s${i}` } },
      volumes: [],
      dependsOn: { store: { condition: "service_started", restart: false, required: true } },
      resources: {},
      updateOrder: "start-first",
      expose: [8080],
      labels: {},
      networks: { default: { aliases: [] } },
    };
    order.push(`svc${i}`);
  }
  return parseManifest({
    formatVersion: 1,
    services,
    order,
    volumes: { data: { labels: {} } },
    networks: { backend: { labels: {}, internal: true } },
    routes: [{ service: "web", port: 8080, host: "app.example.com" }],
    routeHints: [],
    extensions: {},
  });
}

export function pinnedImages(m: Manifest): Record<string, string> {
  return Object.fromEntries(Object.keys(m.services).map((s) => [s, `registry.example/acme/${s}@${DIGEST}`]));
}
