// The environment's proxy in the Swarm render and the manager's re-check of it.
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import type { RenderError } from "../render/node-compose";
import { secretVersion } from "./names";
import { checkSwarmStack } from "./node-check";
import { PROXY_CONFIG_PATH, PROXY_SERVICE } from "./proxy";
import { renderSwarmStack, type SwarmRenderOptions } from "./render";
import { swarmImages, swarmManifest } from "./testdata";

const m = swarmManifest();
const PROXY_IMAGE = `127.0.0.1:5000/berth/haproxy@sha256:${"c".repeat(64)}`;
const options = (o: Partial<SwarmRenderOptions> = {}): SwarmRenderOptions => ({
  environmentId: "shop",
  sequence: 2,
  images: swarmImages(m),
  volumeNodes: { data: "web-2" },
  secretVersions: { "api-token": secretVersion(Buffer.alloc(32, 1), "shop", "api-token", "v") },
  proxy: { image: PROXY_IMAGE, port: 18080 },
  ...o,
});
// biome-ignore lint/suspicious/noExplicitAny: a test reads the parsed document freely
const doc = (o: Partial<SwarmRenderOptions> = {}): any => parse(renderSwarmStack(m, options(o)).text);

describe("the proxy on every node of a swarm", () => {
  it("is a global service publishing one host-mode port, on the routed services' networks, its config versioned", () => {
    const d = doc();
    const p = d.services[PROXY_SERVICE];
    expect(p).toMatchObject({
      image: PROXY_IMAGE,
      command: ["haproxy", "-W", "-db", "-f", PROXY_CONFIG_PATH],
      ports: [{ target: 8080, published: 18080, protocol: "tcp", mode: "host" }],
      networks: { default: {} },
      deploy: { mode: "global", endpoint_mode: "dnsrr", update_config: { order: "stop-first" } },
    });
    expect(p.configs).toEqual([
      { source: PROXY_SERVICE, target: PROXY_CONFIG_PATH, uid: "0", gid: "0", mode: 0o444 },
    ]);
    const config = d["x-berth"].configs.find(
      (c: { name: string }) => c.name === d.configs[PROXY_SERVICE].name,
    );
    expect(config.content).toContain("server-template task 20 tasks.berth-shop_web:8080");
    // Not counted as replicas: a global service runs one task per node.
    expect(Object.keys(d["x-berth"].replicas)).not.toContain(PROXY_SERVICE);
    expect(checkSwarmStack(d, "shop")).toEqual([]);
  });

  it("a route change renames its config (so it rolls out); no routes or no image: no proxy", () => {
    const other = parse(
      renderSwarmStack(
        { ...m, routes: [{ service: "web", port: 8080, host: "other.example.com" }] },
        options(),
      ).text,
    );
    expect(other.configs[PROXY_SERVICE].name).not.toBe(doc().configs[PROXY_SERVICE].name);
    expect(doc({ proxy: undefined }).services[PROXY_SERVICE]).toBeUndefined();
    expect(
      parse(renderSwarmStack({ ...m, routes: [] }, options()).text).services[PROXY_SERVICE],
    ).toBeUndefined();
  });

  it("refuses a service of the proxy's name, an unpinned image, a port below 1024", () => {
    const clash = {
      ...m,
      services: { ...m.services, [PROXY_SERVICE]: m.services.web },
      order: [...m.order, PROXY_SERVICE],
    };
    expect(() =>
      renderSwarmStack(
        clash as typeof m,
        options({ images: { ...swarmImages(m), [PROXY_SERVICE]: PROXY_IMAGE } }),
      ),
    ).toThrow(/services.berth-proxy: the name of berth's proxy/);
    try {
      renderSwarmStack(m, options({ proxy: { image: "haproxy:2.6", port: 80 } }));
      throw new Error("expected a refusal");
    } catch (e) {
      expect((e as RenderError).problems).toEqual([
        "the proxy's image haproxy:2.6 is not pinned by digest",
        "the proxy's port 80 is not within 1024-65535",
      ]);
    }
  });

  it("the manager refuses published ports on any other service, a second or ingress-mode port, a mount on the proxy", () => {
    const d = doc();
    d.services.web.ports = [{ target: 8080, published: 18081, protocol: "tcp", mode: "host" }];
    d.services[PROXY_SERVICE].ports.push({ target: 8080, published: 18082, protocol: "tcp", mode: "host" });
    d.services[PROXY_SERVICE].volumes = [{ type: "volume", source: "data", target: "/data" }];
    expect(checkSwarmStack(d, "shop")).toEqual(
      expect.arrayContaining([
        "services.web.ports: not a key berth writes",
        "services.berth-proxy.ports: only one, {target: 8080, published: 1024-65535, protocol: tcp, mode: host}",
        "services.berth-proxy.volumes: the proxy mounts nothing",
      ]),
    );
    const ingress = doc();
    ingress.services[PROXY_SERVICE].ports[0].mode = "ingress";
    ingress.services[PROXY_SERVICE].deploy.mode = "replicated";
    expect(checkSwarmStack(ingress, "shop")).toEqual([
      "services.berth-proxy.ports: only one, {target: 8080, published: 1024-65535, protocol: tcp, mode: host}",
      "services.berth-proxy.deploy.mode: must be global",
    ]);
  });
});
