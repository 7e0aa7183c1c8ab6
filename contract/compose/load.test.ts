// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Compose interpolation syntax in test data
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { manifestSchema } from "../manifest/schema";
import { loadCompose } from "./load";
import { formatProblem } from "./problem";

const FIXTURE = path.join(__dirname, "testdata", "shop.compose.yaml");

describe("loadCompose on a realistic app", () => {
  const r = loadCompose(readFileSync(FIXTURE, "utf8"), {
    file: "shop.compose.yaml",
    projectDir: "/srv/shop",
    variables: { TAG: "2.4.1" },
  });

  it("is accepted", () => {
    if (!r.ok) throw new Error(r.problems.map(formatProblem).join("\n"));
    expect(r.ok).toBe(true);
    expect(manifestSchema.parse(r.manifest)).toEqual(r.manifest);
  });

  it("gives the manifest", () => {
    if (!r.ok) throw new Error("rejected");
    const m = r.manifest;
    expect(m.formatVersion).toBe(1);
    expect(m.order).toEqual(["store", "web", "worker"]);
    expect(m.services.web).toEqual({
      build: { context: "web", dockerfile: "Dockerfile", args: { NODE_VERSION: "20" }, target: "runtime" },
      command: ["node", "server.js"],
      environment: {
        DATABASE_URL: { value: "postgres://shop@store:5432/shop" },
        SESSION_SECRET: { secret: "session-secret" },
        LOG_LEVEL: { value: "info" },
      },
      volumes: [],
      dependsOn: { store: { condition: "service_healthy", restart: true, required: true } },
      healthcheck: {
        test: ["CMD", "wget", "-qO-", "http://localhost:8080/healthz"],
        intervalMs: 10_000,
        timeoutMs: 3_000,
        retries: 3,
        startPeriodMs: 20_000,
        disable: false,
      },
      resources: { limits: { cpus: 1, memory: 512 * 1024 * 1024 } },
      updateOrder: "start-first",
      restart: "unless-stopped",
      expose: [],
      stopGracePeriodMs: 30_000,
      labels: { "com.example.team": "shop" },
      networks: { front: { aliases: [] }, back: { aliases: [] } },
      health: { path: "/healthz", port: 8080, status: 200 },
    });
    expect(m.services.worker).toMatchObject({
      image: "ghcr.io/acme/shop-worker:2.4.1",
      command: ["bundle", "exec", "sidekiq", "-q", "default"],
      dependsOn: { store: { condition: "service_started", restart: false, required: true } },
      networks: { back: { aliases: [] } },
    });
    expect(m.services.store).toMatchObject({
      image: "postgres:16",
      environment: { POSTGRES_USER: { value: "shop" }, POSTGRES_PASSWORD: { secret: "db-password" } },
      volumes: [{ source: "pgdata", target: "/var/lib/postgresql/data", readOnly: false }],
      healthcheck: { test: ["CMD-SHELL", "pg_isready -U shop"], intervalMs: 5_000, disable: false },
      updateOrder: "stop-first",
      expose: [5432],
      networks: { back: { aliases: ["db"] } },
      stopSignal: "SIGINT",
    });
    expect(m.volumes).toEqual({ pgdata: { labels: { "com.example.backup": "daily" } } });
    expect(m.networks).toEqual({
      front: { labels: {}, internal: false },
      back: { labels: {}, internal: true },
    });
    expect(m.routes).toEqual([
      { service: "web", port: 8080, host: "shop.example.com" },
      { service: "web", port: 8080, host: "shop.example.com", path: "/api" },
    ]);
    expect(m.routeHints).toEqual([{ service: "web", port: 8080 }]);
    expect(m.extensions).toEqual({
      "x-defaults": { restart: "unless-stopped", labels: { "com.example.team": "shop" } },
    });
    expect(r.warnings).toEqual([]);
  });

  it("names the missing variable when TAG is not passed", () => {
    const bad = loadCompose(readFileSync(FIXTURE, "utf8"), {
      file: "shop.compose.yaml",
      projectDir: "/srv/shop",
    });
    expect(bad.ok).toBe(false);
    if (bad.ok) return;
    expect(bad.problems.map(formatProblem)).toEqual([
      "shop.compose.yaml:49:12 services.worker.image: variable TAG is not set (set it in the project folder's .env, pass it with --var TAG=..., or give a default: ${TAG:-value})",
    ]);
  });

  it("is deterministic", () => {
    const again = loadCompose(readFileSync(FIXTURE, "utf8"), {
      file: "shop.compose.yaml",
      projectDir: "/srv/shop",
      variables: new Map([["TAG", "2.4.1"]]),
    });
    expect(JSON.stringify(again)).toBe(JSON.stringify(r));
  });

  it("defaults the project folder to the file's folder", () => {
    const rel = loadCompose("services:\n  web:\n    build: ../x\n", { file: "app/compose.yaml" });
    expect(rel.ok).toBe(false);
    const ok = loadCompose("services:\n  web:\n    build: ./x\n", { file: "app/compose.yaml" });
    expect(ok.ok && ok.manifest.services.web?.build?.context).toBe("x");
  });
});

describe("names the manifest cannot hold empty", () => {
  // Each was once refused only by a final check of the manifest against its schema, as
  // "internal: the manifest is invalid"; the loader now says what and where.
  it.each([
    ["group_add", '    group_add: [""]\n', "services.web.group_add[0]: group_add items must not be empty"],
    [
      "aliases",
      '    networks: {default: {aliases: [""]}}\n',
      "services.web.networks.default.aliases[0]: aliases items must not be empty",
    ],
    [
      "build target",
      '    build: {context: ., target: ""}\n',
      "services.web.build.target: build target must not be empty",
    ],
    [
      "hook user",
      '    post_start: [{command: [x], user: ""}]\n',
      "services.web.post_start[0].user: user must not be empty",
    ],
    [
      "additional context",
      '    build: {context: ., additional_contexts: {"": "."}}\n',
      'services.web.build.additional_contexts[""]: an additional context needs a name',
    ],
  ])("%s", (_, body, message) => {
    const r = loadCompose(`services:\n  web:\n    image: nginx\n${body}`, {
      file: "c.yaml",
      projectDir: "/p",
    });
    expect(r.ok ? [] : r.problems.map((p) => `${p.path}: ${p.message}`)).toEqual([message]);
  });
});
