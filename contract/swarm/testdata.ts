// A pinned manifest of a small app on a node group (web ×3 behind the proxies, a store with a
// volume, a secret and a config as files) for the Swarm renderer's tests and the swarm system tests.
import { type Manifest, parseManifest } from "../manifest/schema";

export const DIGEST = `sha256:${"cd".repeat(32)}`;

export function swarmManifest(): Manifest {
  return parseManifest({
    formatVersion: 1,
    services: {
      store: {
        image: "registry.example/acme/store:1",
        environment: { STORE_DIR: { value: "/data" } },
        volumes: [{ source: "data", target: "/data", readOnly: false }],
        dependsOn: {},
        healthcheck: {
          test: ["CMD", "test", "-d", "/data"],
          intervalMs: 2000,
          retries: 3,
          startPeriodMs: 5000,
          disable: false,
        },
        resources: { limits: { memory: 128 * 1024 * 1024 } },
        updateOrder: "stop-first",
        restart: "on-failure:5",
        expose: [9000],
        labels: {},
        networks: { backend: { aliases: [] } },
      },
      web: {
        image: "registry.example/acme/web:1",
        command: ["serve", "--greeting", "hello $USER"],
        environment: { STORE_URL: { value: "http://store:9000" } },
        volumes: [],
        dependsOn: { store: { condition: "service_started", restart: false, required: true } },
        healthcheck: {
          test: ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:8080/health"],
          intervalMs: 1000,
          retries: 2,
          disable: false,
        },
        resources: { limits: { cpus: 0.5 } },
        updateOrder: "start-first",
        replicas: 3,
        expose: [],
        labels: { "com.example.team": "web" },
        networks: { default: { aliases: [] }, backend: { aliases: ["api"] } },
        tmpfs: ["/tmp:size=1048576"],
        secrets: [{ source: "api_token", target: "/run/secrets/api_token", uid: 0, gid: 0, mode: 0o400 }],
        configs: [{ source: "site", target: "/etc/site.conf", uid: 0, gid: 0, mode: 0o444 }],
      },
    },
    order: ["store", "web"],
    volumes: { data: { labels: {} } },
    networks: { backend: { labels: {}, internal: true } },
    routes: [{ service: "web", port: 8080, host: "app.example.com" }],
    routeHints: [],
    secrets: { api_token: { secret: "api-token" } },
    configs: { site: { content: "greeting = hello\n" } },
    extensions: {},
  });
}

export function swarmImages(m: Manifest): Record<string, string> {
  return Object.fromEntries(Object.keys(m.services).map((s) => [s, `registry.example/acme/${s}@${DIGEST}`]));
}
