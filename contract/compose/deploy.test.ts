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
        "deploy:\n  replicas: 3\n  placement: {}\n  restart_policy: {}\n  update_config:\n    order: sideways\n    parallelism: 2\n  resources:\n    limits:\n      cpus: lots\n      memory: huge\n      pids: 0\n    reservations:\n      devices: [{ capabilities: [gpu] }]",
      ),
    );
    expect(at(ps, "services.web.deploy.replicas")).toMatchObject({
      line: 5,
      message: "replicas is not supported: berth runs one container per service on one node",
    });
    expect(at(ps, "services.web.deploy.placement").message).toContain("placement is not supported");
    expect(at(ps, "services.web.deploy.restart_policy").hint).toBe("use the service's restart: field");
    expect(at(ps, "services.web.deploy.update_config.order").message).toBe(
      "order must be start-first or stop-first",
    );
    expect(at(ps, "services.web.deploy.update_config.parallelism").message).toContain(
      "update_config.parallelism is not supported",
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
});
