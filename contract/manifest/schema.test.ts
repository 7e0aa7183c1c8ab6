import { describe, expect, it } from "vitest";
import { type Manifest, manifestSchema, parseManifest } from "./schema";

const base = (): Manifest => ({
  formatVersion: 1,
  services: {
    web: {
      image: "nginx",
      environment: { A: { value: "1" }, S: { secret: "db-password" } },
      volumes: [{ source: "data", target: "/data", readOnly: false }],
      dependsOn: {},
      resources: {},
      updateOrder: "stop-first",
      expose: [],
      labels: {},
      networks: { default: { aliases: [] } },
    },
  },
  order: ["web"],
  volumes: { data: { labels: {} } },
  networks: {},
  routes: [{ service: "web", port: 80, host: "a.example.com" }],
  routeHints: [],
  extensions: {},
});

describe("manifest schema", () => {
  it("accepts a valid manifest", () => {
    expect(parseManifest(base())).toEqual(base());
  });

  it("is strict: unknown fields are refused", () => {
    const m = base() as unknown as Record<string, unknown>;
    m.extra = 1;
    expect(manifestSchema.safeParse(m).success).toBe(false);
    const s = base();
    (s.services.web as unknown as Record<string, unknown>).privileged = true;
    expect(manifestSchema.safeParse(s).success).toBe(false);
  });

  it("checks references between parts", () => {
    const undeclared = base();
    undeclared.volumes = {};
    expect(manifestSchema.safeParse(undeclared).error?.issues[0]?.message).toBe("undeclared volume");
    const route = base();
    route.routes = [{ service: "api", port: 80, host: "a.example.com" }];
    expect(manifestSchema.safeParse(route).error?.issues[0]?.message).toBe("unknown service");
    const order = base();
    order.order = [];
    expect(manifestSchema.safeParse(order).error?.issues[0]?.message).toBe("must list every service once");
  });

  it("refuses reserved labels, bad hosts, bad secret names and escaping build contexts", () => {
    const labels = base();
    labels.services.web!.labels = { "berth.service": "x" };
    expect(manifestSchema.safeParse(labels).success).toBe(false);
    const host = base();
    host.routes = [{ service: "web", port: 80, host: "Not A Host" }];
    expect(manifestSchema.safeParse(host).success).toBe(false);
    const secret = base();
    secret.services.web!.environment = { S: { secret: "bad name" } };
    expect(manifestSchema.safeParse(secret).success).toBe(false);
    const build = base();
    build.services.web!.build = { context: "../x", args: {} };
    expect(manifestSchema.safeParse(build).success).toBe(false);
  });
});
