// A realistic Compose file with N services (web-like services with builds, healthchecks,
// secrets and routes, plus a store with a volume) for the benchmarks.
export function composeWithServices(n: number): string {
  const lines = [
    "services:",
    "  store:",
    "    image: registry.example/acme/store:16",
    "    volumes:",
    "      - data:/var/lib/store",
  ];
  lines.push(
    "    healthcheck:",
    '      test: ["CMD", "store-ping"]',
    "      interval: 5s",
    "      retries: 5",
  );
  lines.push("    deploy:", "      resources:", "        limits:", "          memory: 512M");
  for (let i = 1; i < n; i++) {
    lines.push(
      `  svc${i}:`,
      `    image: registry.example/acme/svc${i}:\${TAG:-1.0}`,
      `    command: ["node", "server.js", "--port", "8080"]`,
      "    environment:",
      `      SERVICE_NAME: svc${i}`,
      "      STORE_URL: http://store:6379",
      "      LOG_LEVEL: info",
      "      API_TOKEN:",
      "        x-berth-secret: api-token",
      "    depends_on:",
      "      store:",
      "        condition: service_healthy",
      "    healthcheck:",
      '      test: ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:8080/health"]',
      "      interval: 2s",
      "      timeout: 1s",
      "      retries: 10",
      "    deploy:",
      "      resources:",
      "        limits:",
      "          memory: 256M",
      "          cpus: '0.5'",
      "    labels:",
      `      com.example.team: team${i % 3}`,
      "    x-berth-health:",
      "      path: /health",
      "      port: 8080",
    );
  }
  lines.push("volumes:", "  data: {}", "x-berth-routes:");
  for (let i = 1; i < Math.min(n, 6); i++)
    lines.push(`  - { service: svc${i}, port: 8080, host: svc${i}.example.com }`);
  return `${lines.join("\n")}\n`;
}
