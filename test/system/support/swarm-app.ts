// The app the swarm tests and bench:swarm deploy: web (health-checked, a secret and a config as
// files) and store (a volume, so pinned to the node holding its disk), both the test app image.
import { type Manifest, parseManifest } from "../../../contract/manifest/schema";

/** web ×3 (health-checked, a secret and a config as files) and store (a volume, pinned). */
export function swarmApp(
  image: string,

  webHealth: string[] = ["CMD-SHELL", "busybox wget -q -O /dev/null http://127.0.0.1:8080/health"],
  message = "v1",
): Manifest {
  return parseManifest({
    formatVersion: 1,
    services: {
      web: {
        image,
        environment: { MESSAGE: { value: message } },
        volumes: [],
        dependsOn: {},
        healthcheck: { test: webHealth, intervalMs: 500, timeoutMs: 2000, retries: 2, disable: false },
        resources: {},
        updateOrder: "start-first",
        replicas: 3,
        expose: [],
        labels: {},
        networks: { default: { aliases: [] } },
        secrets: [{ source: "api_token", target: "/run/secrets/api_token", uid: 0, gid: 0, mode: 0o400 }],
        configs: [{ source: "site", target: "/etc/site.conf", uid: 0, gid: 0, mode: 0o444 }],
      },
      store: {
        image,
        environment: { ROLE: { value: "store" } },
        volumes: [{ source: "data", target: "/data", readOnly: false }],
        dependsOn: {},
        healthcheck: {
          test: ["CMD", "test", "-s", "/data/starts"],
          intervalMs: 500,
          retries: 2,
          disable: false,
        },
        resources: {},
        updateOrder: "stop-first",
        expose: [],
        labels: {},
        networks: { default: { aliases: [] } },
      },
    },
    order: ["web", "store"],
    volumes: { data: { labels: {} } },
    networks: {},
    routes: [{ service: "web", port: 8080, host: "app.example.com" }],
    routeHints: [],
    secrets: { api_token: { secret: "api-token" } },
    configs: { site: { content: `message = ${message}\n` } },
    extensions: {},
  });
}
