import { describe, expect, it } from "vitest";
import { parseReleaseProject, planApply, releaseProject } from "./plan";

describe("planApply", () => {
  it("puts stop-first services in the environment's project and the rest in the release's", () => {
    const plan = planApply({
      environmentId: "prod",
      sequence: 4,
      networks: [],
      volumes: [],
      secrets: {},
      services: [
        { name: "store", updateOrder: "stop-first", ports: [] },
        { name: "web", updateOrder: "start-first", ports: [8080] },
        { name: "worker", updateOrder: "start-first", ports: [] },
      ],
    });
    expect(plan.stateful).toEqual({ project: "berth_prod", services: ["store"] });
    expect(plan.stateless).toEqual({ project: "berth_prod_r4", services: ["web", "worker"] });
    expect(plan.projectOf).toEqual({ store: "berth_prod", web: "berth_prod_r4", worker: "berth_prod_r4" });
  });

  it("a first release puts every service in the environment's project: one Compose call", () => {
    const plan = planApply(
      {
        environmentId: "prod",
        sequence: 1,
        networks: [],
        volumes: [],
        secrets: {},
        services: [
          { name: "store", updateOrder: "stop-first", ports: [] },
          { name: "web", updateOrder: "start-first", ports: [8080] },
        ],
      },
      undefined,
      { first: true },
    );
    expect(plan.stateless).toEqual({ project: "berth_prod", services: ["web"] });
    expect(plan.projectOf).toEqual({ store: "berth_prod", web: "berth_prod" });
  });

  it("reads a release project name back", () => {
    expect(parseReleaseProject("prod", releaseProject("prod", 12))).toBe(12);
    expect(parseReleaseProject("prod", "berth_prod")).toBeUndefined();
    expect(parseReleaseProject("prod", "berth_prod_rx")).toBeUndefined();
    expect(parseReleaseProject("prod", "berth_staging_r1")).toBeUndefined();
    // An environment named like another's release project cannot collide with it.
    expect(parseReleaseProject("prod", releaseProject("prod-r1", 3))).toBeUndefined();
  });
});
