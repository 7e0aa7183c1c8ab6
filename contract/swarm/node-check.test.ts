import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { secretVersion } from "./names";
import { checkSwarmStack } from "./node-check";
import { renderSwarmStack } from "./render";
import { swarmImages, swarmManifest } from "./testdata";

const m = swarmManifest();
const text = renderSwarmStack(m, {
  environmentId: "shop",
  sequence: 2,
  images: swarmImages(m),
  volumeNodes: { data: "web-2" },
  secretVersions: { "api-token": secretVersion(Buffer.alloc(32, 1), "shop", "api-token", "v") },
}).text;
// biome-ignore lint/suspicious/noExplicitAny: a test mutates the parsed document freely
const fresh = (): any => parse(text);

describe("checkSwarmStack: the manager's re-check of a signed stack", () => {
  it("accepts what the renderer writes", () => {
    expect(checkSwarmStack(fresh(), "shop")).toEqual([]);
  });

  it("refuses a bind mount of a node path, a volume with driver options, an unknown volume", () => {
    const d = fresh();
    d.services.web.volumes = [
      { type: "bind", source: "/var/run/docker.sock", target: "/s" },
      { type: "volume", source: "other", target: "/o" },
    ];
    d.volumes.data.driver_opts = { type: "none", o: "bind", device: "/etc" };
    expect(checkSwarmStack(d, "shop")).toEqual([
      "volumes.data.driver_opts: not allowed (a driver or its options could bind a node path)",
      "services.web.volumes[0]: only the stack's volumes and tmpfs (a bind mount could reach the node)",
      "services.web.volumes[1]: not a volume of the stack",
    ]);
  });

  it("refuses another environment's secret, a non-external secret, an unpinned image", () => {
    const d = fresh();
    d.secrets.api_token.name = "berth_bank_api_token_0123456789ab";
    d.configs.site = { file: "/etc/shadow" };
    d.services.store.image = "registry.example/acme/store:latest";
    expect(checkSwarmStack(d, "shop")).toEqual([
      "secrets.api_token: must be named berth_shop_… (the environment's own secrets)",
      "configs.site: must be named berth_shop_… (the environment's own configs)",
      "configs.site: must be external (created by the agent)",
      "configs.site.file: not allowed",
      "services.store.image: must be pinned by digest",
    ]);
  });

  it("refuses privileges, host networking, published ports, other placement and log drivers", () => {
    const d = fresh();
    d.services.web.cap_add = ["SYS_ADMIN"];
    d.services.web.ports = ["80:8080"];
    d.services.web.deploy.endpoint_mode = "vip";
    d.services.web.deploy.placement = { constraints: ["node.role == manager"] };
    d.services.web.logging.driver = "syslog";
    d.services.web.networks.host = {};
    d.networks.outside = { name: "host", external: true };
    expect(checkSwarmStack(d, "shop")).toEqual([
      "networks.outside: must be named berth_shop_outside",
      "networks.outside.driver: must be overlay",
      "networks.outside.external: not allowed (only the environment's own networks)",
      "networks.outside.attachable: must be false",
      "networks.outside.external: not allowed",
      "services.web.cap_add: not a key berth writes",
      "services.web.ports: not a key berth writes",
      "services.web.deploy.endpoint_mode: must be dnsrr (no published ports)",
      "services.web.deploy.placement: only node.labels.berth.node == <node id>",
      "services.web.logging.driver: only json-file or local (logs stay on the node)",
      "services.web.networks.host: not a network of the stack",
    ]);
  });
});
