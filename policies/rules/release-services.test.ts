import { describe, expect, it } from "vitest";
import { DYNAMIC_RESOURCE_TYPE } from "./berth-resources";
import { releaseServicesHealthChecked, releaseServicesMemoryLimited } from "./release-services";
import { resourceArgs, violations } from "./testing";

const props = {
  berthKind: "release",
  environmentId: "shop",
  summary: {
    services: {
      web: { image: "x", healthcheck: "CMD curl -f http://localhost/ every 5000ms", memoryLimit: 134217728 },
      api: { image: "x", healthcheck: "none", health: "GET :8080/health → 200", memoryLimit: 67108864 },
      worker: { image: "x", healthcheck: "none" },
    },
    volumes: [],
    routes: [],
  },
};
const args = (p: Record<string, unknown>) => resourceArgs(DYNAMIC_RESOURCE_TYPE, p, {}, "shop-release");

describe("advisory release checks", () => {
  it("berth-release-health-check: a service with neither a healthcheck nor an x-berth-health probe", async () => {
    expect(releaseServicesHealthChecked.enforcementLevel).toBe("advisory");
    expect(await violations(releaseServicesHealthChecked, args(props))).toEqual([
      expect.stringContaining("release of shop: service worker has no health check"),
    ]);
  });

  it("berth-release-memory-limit: a service without deploy.resources.limits.memory", async () => {
    expect(releaseServicesMemoryLimited.enforcementLevel).toBe("advisory");
    expect(await violations(releaseServicesMemoryLimited, args(props))).toEqual([
      expect.stringContaining("release of shop: service worker has no memory limit"),
    ]);
  });

  it("is satisfied by services that have both, and ignores other resources", async () => {
    const ok = { ...props, summary: { ...props.summary, services: { web: props.summary.services.web } } };
    expect(await violations(releaseServicesHealthChecked, args(ok))).toEqual([]);
    expect(await violations(releaseServicesMemoryLimited, args(ok))).toEqual([]);
    expect(
      await violations(releaseServicesMemoryLimited, args({ ...props, berthKind: "image-build" })),
    ).toEqual([]);
  });
});
