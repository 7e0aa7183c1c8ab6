import { describe, expect, it } from "vitest";
import { accept } from "../../contract/compose/testing";
import { buildOrder, planBuilds } from "./builds";

describe("planBuilds", () => {
  it("carries dockerfile_inline, labels, named contexts and the platform, and orders service: contexts first", () => {
    const m = accept(
      `services:
  app:
    build:
      context: .
      dockerfile_inline: |
        FROM base
        COPY --from=assets /out /srv
      labels: { org.example.team: web }
      additional_contexts: { base: service:base, assets: ./assets }
      platforms: [linux/amd64]
  base:
    build: { context: ./base }
`,
    ).manifest;
    const builds = planBuilds(m, "/srv/app");
    expect(builds[0]).toMatchObject({
      name: "app",
      context: "/srv/app",
      dockerfileInline: "FROM base\nCOPY --from=assets /out /srv\n",
      labels: { "org.example.team": "web" },
      additionalContexts: { base: "service:base", assets: "/srv/app/assets" },
      platform: "linux/amd64",
    });
    expect(buildOrder(builds).map((b) => b.name)).toEqual(["base", "app"]);
  });

  it("refuses contexts that name each other", () => {
    const m = accept(
      "services:\n  a:\n    build: { context: ., additional_contexts: { x: service:b } }\n  b:\n    build: { context: ./b, additional_contexts: { y: service:a } }\n",
    ).manifest;
    expect(() => buildOrder(planBuilds(m, "/p"))).toThrow(/cycle: a -> b -> a/);
  });
});
