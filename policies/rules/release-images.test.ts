import * as proxyModule from "@pulumi/policy/proxy";
import { describe, expect, it } from "vitest";
import { DYNAMIC_RESOURCE_TYPE } from "./berth-resources";
import { releaseImagesPinned } from "./release-images";
import { resourceArgs, violations } from "./testing";

// The SDK's own proxy for preview values (its exports are internal, so untyped here).
const { unknownCheckingProxy, unknownStringValue } = proxyModule as unknown as {
  unknownCheckingProxy: <T>(x: T) => T;
  unknownStringValue: unknown;
};
const D = (c: string) => `sha256:${c.repeat(64)}`;
const registry = {
  host: "registry.example.com",
  prefix: "acme/prod",
  allowOutside: false,
  username: "u",
  password: "p",
};

function release(over: Record<string, unknown> = {}) {
  return {
    berthKind: "release",
    berthProviderVersion: "1",
    environmentId: "shop",
    registry,
    images: { web: `registry.example.com/acme/prod/shop-web@${D("a")}` },
    summary: {
      services: {
        web: { image: "registry.example.com/acme/prod/shop-web:0123456789abcdef", healthcheck: "none" },
        cache: { image: `registry.example.com/acme/prod/redis:7@${D("b")}`, healthcheck: "none" },
      },
      volumes: [],
      routes: [],
    },
    ...over,
  };
}
const check = (props: Record<string, unknown>) =>
  violations(releaseImagesPinned, resourceArgs(DYNAMIC_RESOURCE_TYPE, props, {}, "shop-release"));

describe("berth-release-images-pinned", () => {
  it("passes built images pinned in the namespace and Compose images written with a digest", async () => {
    expect(await check(release())).toEqual([]);
  });

  it("flags a built image that is not a digest, and one outside the namespace", async () => {
    const v = await check(release({ images: { web: "registry.example.com/acme/prod/shop-web:latest" } }));
    expect(v).toEqual([
      expect.stringContaining(
        "release of shop: service web: registry.example.com/acme/prod/shop-web:latest is not pinned by digest",
      ),
    ]);
    const outside = await check(release({ images: { web: `ghcr.io/someone/web@${D("c")}` } }));
    expect(outside[0]).toContain(
      "outside the environment's registry namespace registry.example.com/acme/prod",
    );
  });

  it("flags a Compose image given by tag only (resolved at publish: not what the reviewer saw)", async () => {
    const props = release();
    props.summary.services.cache.image = "registry.example.com/acme/prod/redis:7";
    expect((await check(props))[0]).toContain(
      "service cache: registry.example.com/acme/prod/redis:7 is not pinned by digest",
    );
  });

  it("allows images outside the namespace when the environment says so, but still wants digests", async () => {
    const props = release({ registry: { ...registry, allowOutside: true } });
    props.summary.services.cache.image = `docker.io/library/redis@${D("d")}`;
    expect(await check(props)).toEqual([]);
    props.summary.services.cache.image = "docker.io/library/redis:7";
    expect(await check(props)).toHaveLength(1);
  });

  it("checks what is known in a preview: an unknown built digest is no violation", async () => {
    const props = unknownCheckingProxy(release({ images: { web: unknownStringValue } }));
    expect(await check(props)).toEqual([]);
  });

  it("ignores berth's other resources and other dynamic resources", async () => {
    expect(await check({ ...release(), berthKind: "image-build" })).toEqual([]);
    expect(await check({ images: { web: "x:latest" } })).toEqual([]);
  });
});
