import { describe, expect, it } from "vitest";
import { accept, at, reject, web } from "./testing";

describe("deploy", () => {
  it("accepts resources (limits, reservations) normalized to numbers and bytes", () => {
    const r = accept(
      web(
        "deploy:\n  resources:\n    limits:\n      cpus: '0.5'\n      memory: 512M\n      pids: 100\n    reservations:\n      cpus: 0.25\n      memory: 256m",
      ),
    );
    expect(r.manifest.services.web?.resources).toEqual({
      limits: { cpus: 0.5, memory: 512 * 1024 * 1024, pids: 100 },
      reservations: { cpus: 0.25, memory: 256 * 1024 * 1024 },
    });
  });

  it("accepts update_config.order, and defaults it by the service's volumes", () => {
    const explicit = accept(web("deploy:\n  update_config:\n    order: stop-first"));
    expect(explicit.manifest.services.web?.updateOrder).toBe("stop-first");
    expect(accept(web("")).manifest.services.web?.updateOrder).toBe("start-first");
    const withVolume = web("volumes: [data:/data]", "volumes:\n  data:\n");
    expect(accept(withVolume).manifest.services.web?.updateOrder).toBe("stop-first");
    const readOnly = web("volumes: ['data:/data:ro']", "volumes:\n  data:\n");
    expect(accept(readOnly).manifest.services.web?.updateOrder).toBe("start-first");
    const forced = web(
      "volumes: [data:/data]\ndeploy: { update_config: { order: start-first } }",
      "volumes:\n  data:\n",
    );
    expect(accept(forced).manifest.services.web?.updateOrder).toBe("start-first");
  });

  it("refuses Swarm fields, bad values and GPU reservations, each with its own message", () => {
    const ps = reject(
      web(
        "deploy:\n  replicas: 9\n  placement: {}\n  restart_policy: {}\n  update_config:\n    order: sideways\n    delay: 2s\n  resources:\n    limits:\n      cpus: lots\n      memory: huge\n      pids: 0\n    reservations:\n      devices: [{ capabilities: [gpu] }]",
      ),
    );
    expect(at(ps, "services.web.deploy.replicas")).toMatchObject({
      line: 5,
      message:
        "replicas must be a whole number from 1 to 8, not 9: during an upgrade the old and the new containers of a service run side by side on its node",
    });
    expect(at(ps, "services.web.deploy.placement").message).toContain("placement is not supported");
    expect(at(ps, "services.web.deploy.restart_policy").hint).toBe("use the service's restart: field");
    expect(at(ps, "services.web.deploy.update_config.order").message).toBe(
      "order must be start-first or stop-first",
    );
    expect(at(ps, "services.web.deploy.update_config.delay").message).toContain(
      "update_config.delay is not supported",
    );
    expect(at(ps, "services.web.deploy.resources.limits.cpus").message).toContain(
      "cpus must be a positive number",
    );
    expect(at(ps, "services.web.deploy.resources.limits.memory").message).toContain(
      "memory must be a size like 512m",
    );
    expect(at(ps, "services.web.deploy.resources.limits.pids").message).toContain("between 1 and");
    expect(at(ps, "services.web.deploy.resources.reservations.devices").message).toBe(
      "device reservations (GPUs) are not supported",
    );
  });

  it("reads replicas, scale and update_config.parallelism into the manifest", () => {
    const r = accept(
      web(
        "deploy:\n  replicas: 3\n  update_config:\n    parallelism: 1\n    order: start-first",
        "  api:\n    image: api\n    scale: 2\n",
      ),
    );
    expect(r.manifest.services.web).toMatchObject({
      replicas: 3,
      updateParallelism: 1,
      updateOrder: "start-first",
    });
    expect(r.manifest.services.api?.replicas).toBe(2);
  });

  it("refuses replicas: 0 and a scale that contradicts deploy.replicas, located", () => {
    expect(at(reject(web("deploy:\n  replicas: 0")), "services.web.deploy.replicas")).toMatchObject({
      line: 5,
      message: "replicas: 0 runs no container of the service",
    });
    expect(at(reject(web("scale: 2\ndeploy:\n  replicas: 3")), "services.web.scale").message).toBe(
      "scale (2) and deploy.replicas (3) differ",
    );
  });

  it("makes links dependencies and network aliases of the linked service", () => {
    const r = accept(
      web("links: [db:database, cache]", "  db:\n    image: postgres\n  cache:\n    image: redis\n"),
    );
    expect(r.manifest.services.web?.dependsOn).toEqual({
      db: { condition: "service_started", restart: true, required: true },
      cache: { condition: "service_started", restart: true, required: true },
    });
    expect(r.manifest.services.db?.networks).toEqual({ default: { aliases: ["database"] } });
    expect(r.manifest.services.cache?.networks).toEqual({ default: { aliases: [] } });
    expect(r.manifest.order.indexOf("db")).toBeLessThan(r.manifest.order.indexOf("web"));
    expect(at(reject(web("links: [nope]")), "services.web.links[0]").message).toBe(
      "link to nope: there is no service nope in this file",
    );
  });
});
