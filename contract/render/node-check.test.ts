import { describe, expect, it } from "vitest";
import { parseManifest } from "../manifest/schema";
import { checkNodeExtras, checkRenderedRelease } from "./node-check";
import { renderNodeCompose } from "./node-compose";
import { parseNodeExtras } from "./node-extras";

const IMAGE = `registry.test/app@sha256:${"a".repeat(64)}`;

function rendered() {
  const m = parseManifest({
    formatVersion: 1,
    order: ["web"],
    services: {
      web: {
        image: IMAGE,
        environment: {},
        volumes: [{ source: "data", target: "/data", readOnly: false }],
        dependsOn: {},
        resources: {},
        updateOrder: "stop-first",
        expose: [],
        labels: {},
        networks: { default: { aliases: [] } },
      },
    },
    volumes: { data: { labels: {} } },
    networks: {},
    routes: [{ service: "web", port: 8080, host: "app.test" }],
    routeHints: [],
    extensions: {},
  });
  const r = renderNodeCompose(m, {
    environmentId: "shop",
    sequence: 3,
    images: { web: IMAGE },
    volumeRoot: "/srv/v",
  });
  // biome-ignore lint/suspicious/noExplicitAny: a rendered document, changed by hand as an attacker would
  return JSON.parse(r.text.replace(/^#.*\n/, "")) as Record<string, any>;
}

describe("the node's check of a rendered file", () => {
  it("passes what berth renders", () => {
    const doc = rendered();
    expect(checkRenderedRelease(doc, parseNodeExtras(doc), { volumeRoot: "/srv/v" })).toEqual([]);
    expect(checkRenderedRelease(doc, parseNodeExtras(doc), { volumeRoot: "/srv/v/" })).toEqual([]);
  });

  it("refuses privileged, a bind mount and the Docker socket, each with its reason", () => {
    const doc = rendered();
    doc.services.web.privileged = true;
    doc.services.web.volumes.push({
      type: "bind",
      source: "/var/run/docker.sock",
      target: "/var/run/docker.sock",
    });
    const problems = checkRenderedRelease(doc, parseNodeExtras(doc), { volumeRoot: "/srv/v" });
    expect(problems).toContain(
      "services.web.privileged: privileged containers are not allowed: they get root on the node",
    );
    expect(
      problems.some((p) => p.startsWith("services.web.volumes[1]: only the environment's own named volumes")),
    ).toBe(true);
  });

  it("refuses a volume folder outside the volume root: a named volume that binds /var/run", () => {
    const doc = rendered();
    doc["x-berth"].volumes[0].device = "/var/run";
    expect(checkNodeExtras(parseNodeExtras(doc), { volumeRoot: "/srv/v" })).toEqual([
      "x-berth.volumes[0].device: /var/run is not the volume's folder under the node's volume root (/srv/v/berth-env-shop/volumes/data/data): it would bind a folder of the node into the container",
    ]);
    doc["x-berth"].volumes[0] = {
      name: "berth_other_data",
      device: "/srv/v/berth-env-other/volumes/data/data",
    };
    expect(checkNodeExtras(parseNodeExtras(doc), { volumeRoot: "/srv/v" })).toEqual([
      "x-berth.volumes[0]: berth_other_data is not a volume of environment shop (berth_shop_…)",
    ]);
  });

  it("parses x-berth with its schema, naming the path of what is wrong", () => {
    const doc = rendered();
    doc["x-berth"].volumes[0].device = "../../etc";
    expect(() => parseNodeExtras(doc)).toThrow(
      /x-berth of the rendered Compose file: volumes\[0\]\.device: not an absolute path/,
    );
    expect(() => parseNodeExtras({ services: {} })).toThrow(
      "not a Compose file rendered by berth (no x-berth section)",
    );
    const d2 = rendered();
    d2["x-berth"].secrets = { token: "lower-case; rm -rf" };
    expect(() => parseNodeExtras(d2)).toThrow(/secrets\.token: not an environment variable name/);
  });
});
