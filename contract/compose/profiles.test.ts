import { describe, expect, it } from "vitest";
import { accept, at, reject } from "./testing";

const file = `services:
  web:
    image: nginx
    depends_on:
      db: { condition: service_started }
      debug: { condition: service_started, required: false }
  db:
    image: postgres
  debug:
    image: busybox
    profiles: [debug, tools]
  admin:
    image: adminer
    profiles: [admin]
x-berth-routes:
  - { service: web, port: 80, host: app.example.com }
  - { service: admin, port: 8080, host: admin.example.com }
`;

describe("profiles", () => {
  it("without active profiles, runs only the services without profiles, as Compose does", () => {
    const r = accept(file);
    expect(r.manifest.order).toEqual(["db", "web"]);
    expect(Object.keys(r.manifest.services.web?.dependsOn ?? {})).toEqual(["db"]);
    expect(r.manifest.routes.map((x) => x.service)).toEqual(["web"]);
    expect(r.warnings.map((w) => w.message)).toEqual(
      expect.arrayContaining([
        "service debug is not deployed: its profiles debug, tools are not active",
        "the route to admin is left out: admin runs only with the profile admin, not active here",
      ]),
    );
  });

  it("runs the services of the active profiles, and every one with *", () => {
    expect(accept(file, { profiles: ["tools"] }).manifest.order).toEqual(["db", "debug", "web"]);
    expect(Object.keys(accept(file, { profiles: ["tools"] }).manifest.services.web?.dependsOn ?? {})).toEqual(
      ["db", "debug"],
    );
    const all = accept(file, { profiles: ["*"] });
    expect(Object.keys(all.manifest.services).sort()).toEqual(["admin", "db", "debug", "web"]);
    expect(all.manifest.routes).toHaveLength(2);
  });

  it("refuses a required dependency on a service that is not active, naming the profile", () => {
    const p = at(
      reject(
        "services:\n  web:\n    image: nginx\n    depends_on: [db]\n  db:\n    image: postgres\n    profiles: [data]\n",
      ),
      "services.web.depends_on[0]",
    );
    expect(p.message).toBe(
      "service web depends on db, which runs only with the profile data, not active here",
    );
    expect(p.hint).toMatch(/berth:environments\[\]\.profiles/);
  });

  it("says when no service would run, and refuses bad profile names", () => {
    expect(at(reject("services:\n  a:\n    image: nginx\n    profiles: [x]\n"), "services").message).toMatch(
      /no service would run/,
    );
    expect(
      at(reject("services:\n  a:\n    image: nginx\n    profiles: ['-x']\n"), "services.a.profiles").line,
    ).toBe(4);
  });
});
