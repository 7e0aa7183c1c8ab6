// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Compose interpolation syntax in test data
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { parseManifest } from "../manifest/schema";
import { RenderError } from "../render/node-compose";
import { configVersion, secretVersion, swarmObjectName } from "./names";
import { monitorFor, parseSwarmExtras, renderSwarmStack, type SwarmRenderOptions } from "./render";
import { DIGEST, swarmImages, swarmManifest } from "./testdata";

const m = swarmManifest();
const key = Buffer.alloc(32, 7);
const version = secretVersion(key, "shop", "api-token", "s3cret-value");
const options: SwarmRenderOptions = {
  environmentId: "shop",
  sequence: 4,
  images: swarmImages(m),
  volumeNodes: { data: "web-2" },
  secretVersions: { "api-token": version },
};
const rendered = renderSwarmStack(m, options);
const doc = parse(rendered.text);

describe("renderSwarmStack", () => {
  it("is pure and pins images by digest", () => {
    expect(renderSwarmStack(m, options).text).toBe(rendered.text);
    expect(doc.services.web.image).toBe(`registry.example/acme/web@${DIGEST}`);
    expect(rendered.text.startsWith("# Rendered by berth for environment shop, release 4, on a swarm")).toBe(
      true,
    );
  });

  it("rolls updates one task at a time, start-first unless the service holds a volume, and rolls back on failure", () => {
    expect(doc.services.web.deploy).toMatchObject({
      mode: "replicated",
      replicas: 3,
      endpoint_mode: "dnsrr",
      update_config: {
        parallelism: 1,
        order: "start-first",
        failure_action: "rollback",
        max_failure_ratio: 0,
      },
      rollback_config: { parallelism: 1, order: "start-first", failure_action: "pause" },
      restart_policy: { condition: "any" },
      resources: { limits: { cpus: "0.5", memory: String(512 * 1024 * 1024) } },
    });
    expect(doc.services.store.deploy).toMatchObject({
      replicas: 1,
      update_config: { order: "stop-first", failure_action: "rollback" },
      restart_policy: { condition: "on-failure", max_attempts: 5 },
    });
    expect(rendered.extras.replicas).toEqual({ store: 1, web: 3 });
  });

  it("monitors an update long enough for the health check to fail (30 s at least)", () => {
    expect(doc.services.web.deploy.update_config.monitor).toBe("30000ms");
    expect(
      monitorFor({ intervalMs: 10_000, retries: 3, startPeriodMs: 20_000, disable: false }, 30_000),
    ).toBe(60_000);
    expect(monitorFor({ disable: true }, 5000)).toBe(5000);
    expect(doc.services.web.healthcheck).toEqual({
      test: ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:8080/health"],
      interval: "1000ms",
      retries: 2,
    });
  });

  it("pins a service with a volume to the node holding its disk", () => {
    expect(doc.services.store.deploy.placement).toEqual({ constraints: ["node.labels.berth.node == web-2"] });
    expect(doc.services.web.deploy.placement).toBeUndefined();
    expect(rendered.extras.pins).toEqual([{ service: "store", node: "web-2", volume: "data" }]);
    expect(doc.volumes).toEqual({
      data: { name: "berth_shop_data", labels: { "berth.environment": "shop" } },
    });
  });

  it("mounts secrets and configs under versioned external names, never the value", () => {
    const secretName = swarmObjectName("shop", "api_token", version);
    const configName = swarmObjectName("shop", "site", configVersion("greeting = hello\n"));
    expect(doc.secrets).toEqual({ api_token: { name: secretName, external: true } });
    expect(doc.configs).toEqual({ site: { name: configName, external: true } });
    expect(doc.services.web.secrets).toEqual([
      { source: "api_token", target: "/run/secrets/api_token", uid: "0", gid: "0", mode: 0o400 },
    ]);
    expect(doc.services.web.configs).toEqual([
      { source: "site", target: "/etc/site.conf", uid: "0", gid: "0", mode: 0o444 },
    ]);
    expect(rendered.extras.secrets).toEqual([{ name: secretName, secret: "api-token" }]);
    expect(rendered.extras.configs).toEqual([{ name: configName, content: "greeting = hello\n" }]);
    expect(rendered.text).not.toContain("s3cret-value");
  });

  it("writes a config's content in x-berth with `$` as `$$`, which parseSwarmExtras reads back", () => {
    const content = "proxy_set_header Host $host; ${NOT:?interpolated}\n";
    const withDollars = { ...m, configs: { site: { content } } };
    const r = renderSwarmStack(withDollars, options);
    const x = parse(r.text)["x-berth"];
    expect(x.configs[0].content).toBe("proxy_set_header Host $$host; $${NOT:?interpolated}\n");
    expect(r.extras.configs[0]?.content).toBe(content);
    expect(parseSwarmExtras(x)?.configs[0]?.content).toBe(content);
    // The versioned name follows the content the program meant, not its escaped spelling.
    expect(r.extras.configs[0]?.name).toBe(swarmObjectName("shop", "site", configVersion(content)));
    expect(parseSwarmExtras({ ...x, stack: "not a stack" })).toBeUndefined();
  });

  it("a changed secret value or config content gets a new name; the same value keeps it", () => {
    expect(secretVersion(key, "shop", "api-token", "s3cret-value")).toBe(version);
    expect(secretVersion(key, "shop", "api-token", "rotated")).not.toBe(version);
    expect(secretVersion(Buffer.alloc(32, 8), "shop", "api-token", "s3cret-value")).not.toBe(version);
    expect(secretVersion(key, "other", "api-token", "s3cret-value")).not.toBe(version);
    const again = renderSwarmStack(m, { ...options, sequence: 5 });
    expect(again.extras.secrets).toEqual(rendered.extras.secrets);
    const changed = renderSwarmStack(m, {
      ...options,
      secretVersions: { "api-token": secretVersion(key, "shop", "api-token", "x") },
    });
    expect(changed.extras.secrets[0]?.name).not.toBe(rendered.extras.secrets[0]?.name);
    expect(() => secretVersion(Buffer.alloc(8), "shop", "a", "b")).toThrow(/at least 32 bytes/);
  });

  it("keeps names within Docker's 64 characters, the version whole", () => {
    const long = swarmObjectName("e".repeat(63), "n".repeat(128), "0123456789ab");
    expect(long.length).toBeLessThanOrEqual(64);
    expect(long.endsWith("_0123456789ab")).toBe(true);
    expect(long).toMatch(/^[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?$/);
  });

  it("puts services on encrypted overlays of the environment, no published ports, tmpfs as a mount", () => {
    expect(doc.networks.default).toEqual({
      name: "berth_shop",
      driver: "overlay",
      attachable: false,
      driver_opts: { encrypted: "" },
      labels: { "berth.environment": "shop" },
    });
    expect(doc.networks.backend).toMatchObject({ name: "berth_shop_backend", internal: true });
    expect(renderSwarmStack(m, { ...options, encryptNetworks: false }).text).not.toContain("encrypted");
    expect(doc.services.web.ports).toBeUndefined();
    expect(doc.services.web.volumes).toEqual([{ type: "tmpfs", target: "/tmp", tmpfs: { size: 1048576 } }]);
    expect(doc.services.web.networks).toEqual({ default: {}, backend: { aliases: ["api"] } });
  });

  it("labels the release on the service, not the containers (a release that changes nothing restarts nothing)", () => {
    expect(doc.services.web.deploy.labels).toEqual({
      "berth.environment": "shop",
      "berth.release": "4",
      "berth.service": "web",
    });
    expect(doc.services.web.labels).toEqual({
      "com.example.team": "web",
      "berth.environment": "shop",
      "berth.service": "web",
    });
    expect(doc.services.web.command).toEqual(["serve", "--greeting", "hello $$USER"]);
  });

  it("refuses what Swarm cannot run, naming the service and what to do", () => {
    const bad = parseManifest({
      ...m,
      services: {
        ...m.services,
        web: {
          ...m.services.web,
          environment: { TOKEN: { secret: "api-token" } },
          dependsOn: { store: { condition: "service_healthy", restart: false, required: true } },
          shmSizeBytes: 1024,
        },
      },
    });
    let err: unknown;
    try {
      renderSwarmStack(bad, { ...options, volumeNodes: {}, secretVersions: {} });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RenderError);
    expect((err as RenderError).problems).toEqual([
      "volumes.data: no node holds its disk; set berth:environments[].volumes[].node for it (services.store mounts it)",
      "services.web.environment.TOKEN: on a node group a secret reaches a service as a file (Compose secrets:), not a variable: Swarm keeps variables in the service's spec, which docker inspect shows",
      "services.web.shm_size: Swarm services cannot set it; remove it or mount a tmpfs at /dev/shm",
      "services.web.depends_on: Swarm starts services independently and cannot wait for a condition; make the service retry its dependency (its health check and restart policy cover the wait)",
      "secrets.api_token: no version for berth secret api-token (the program computes it from the value)",
    ]);
  });

  it("reads replicas and update parallelism from the Compose model; refuses lifecycle hooks", () => {
    const web = m.services.web;
    if (!web) throw new Error("no web");
    const two = parseManifest({
      ...m,
      services: { ...m.services, web: { ...web, replicas: 2, updateParallelism: 2 } },
    });
    const d = parse(renderSwarmStack(two, options).text);
    expect(d.services.web.deploy.replicas).toBe(2);
    expect(d.services.web.deploy.update_config.parallelism).toBe(2);
    expect(d.services.store.deploy.update_config.parallelism).toBe(1);
    const hooked = parseManifest({
      ...m,
      services: { ...m.services, web: { ...web, postStart: [{ command: ["true"], environment: {} }] } },
    });
    expect(() => renderSwarmStack(hooked, options)).toThrow(
      /services\.web\.post_start: Swarm has no lifecycle hooks/,
    );
  });

  it("names each volume's holder and disk for the holders to make ready before the deploy", () => {
    expect(rendered.extras.volumes).toEqual([{ name: "data", node: "web-2" }]);
    const disk = "/dev/disk/by-id/scsi-0HC_Volume_42";
    const withDisk = renderSwarmStack(m, { ...options, disks: { data: disk } });
    expect(withDisk.extras.volumes).toEqual([{ name: "data", node: "web-2", disk }]);
    expect(parseSwarmExtras(parse(withDisk.text)["x-berth"])?.volumes).toEqual([
      { name: "data", node: "web-2", disk },
    ]);
    expect(() => renderSwarmStack(m, { ...options, disks: { data: "/etc/passwd" } })).toThrow(
      /disks\.data: "\/etc\/passwd" is not a device path under \/dev/,
    );
    expect(() => renderSwarmStack(m, { ...options, disks: { nope: disk } })).toThrow(
      /disks\.nope: the Compose file has no volume nope/,
    );
  });
});
