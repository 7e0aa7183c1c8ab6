import { describe, expect, it } from "vitest";
import { accept, at, reject } from "./testing";

const svc = (name: string, deps = "") => `  ${name}:\n    image: ${name}\n${deps}`;

describe("depends_on", () => {
  it("accepts the short form with Compose's defaults", () => {
    const r = accept(`services:\n${svc("web", "    depends_on: [api]\n")}${svc("api")}`);
    expect(r.manifest.services.web?.dependsOn).toEqual({
      api: { condition: "service_started", restart: false, required: true },
    });
  });

  it("accepts the long form with every condition", () => {
    const r = accept(
      `services:\n${svc(
        "web",
        "    depends_on:\n      db: { condition: service_healthy, restart: true }\n      migrate:\n        condition: service_completed_successfully\n        required: false\n      cache:\n",
      )}${svc("db")}${svc("migrate")}${svc("cache")}`,
    );
    expect(r.manifest.services.web?.dependsOn).toEqual({
      db: { condition: "service_healthy", restart: true, required: true },
      migrate: { condition: "service_completed_successfully", restart: false, required: false },
      cache: { condition: "service_started", restart: false, required: true },
    });
  });

  it("orders services so dependencies come first, ties in file order", () => {
    const r = accept(
      `services:\n${svc("web", "    depends_on: [api, cache]\n")}${svc("worker", "    depends_on: [db]\n")}${svc(
        "api",
        "    depends_on: [db]\n",
      )}${svc("cache")}${svc("db")}`,
    );
    expect(r.manifest.order).toEqual(["cache", "db", "worker", "api", "web"]);
  });

  it("refuses a missing service, a self-dependency and bad conditions", () => {
    const ps = reject(
      `services:\n${svc("web", "    depends_on:\n      - web\n      - ghost\n")}${svc("api", "    depends_on:\n      web: { condition: service_ready, extra: 1 }\n")}`,
    );
    expect(at(ps, "services.web.depends_on[0]")).toMatchObject({
      line: 5,
      message: "service web depends on itself",
    });
    expect(at(ps, "services.web.depends_on[1]")).toMatchObject({
      line: 6,
      message: "service web depends on ghost, which is not defined",
      hint: "services in this file: web, api",
    });
    expect(at(ps, "services.api.depends_on.web.condition").message).toContain(
      "condition must be one of service_started",
    );
    expect(at(ps, "services.api.depends_on.web.extra").message).toBe('unknown depends_on field "extra"');
  });

  it("names the cycle", () => {
    const ps = reject(
      `services:\n${svc("web", "    depends_on: [api]\n")}${svc("api", "    depends_on: [worker]\n")}${svc("worker", "    depends_on:\n      web: {}\n")}`,
    );
    expect(ps).toEqual([
      expect.objectContaining({
        path: "services.worker.depends_on.web",
        line: 11,
        message: "dependency cycle: web -> api -> worker -> web",
      }),
    ]);
    const two = reject(`services:\n${svc("a", "    depends_on: [b]\n")}${svc("b", "    depends_on: [a]\n")}`);
    expect(two.map((p) => p.message)).toEqual(["dependency cycle: a -> b -> a"]);
  });

  it("refuses duplicates and other shapes", () => {
    expect(
      at(reject(`services:\n${svc("a", "    depends_on: [b, b]\n")}${svc("b")}`), "services.a.depends_on[1]")
        .message,
    ).toBe("b is listed twice");
    expect(
      at(reject(`services:\n${svc("a", "    depends_on: b\n")}`), "services.a.depends_on").message,
    ).toContain("depends_on must be a list of services or a mapping");
  });
});
