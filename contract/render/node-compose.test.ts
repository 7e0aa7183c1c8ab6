// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Compose interpolation syntax in test data
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { environmentBackupSchema } from "../backup/schema";
import { RenderError, readNodeExtras, renderNodeCompose, secretVariable } from "./node-compose";
import { DIGEST, pinnedImages, sampleManifest } from "./testdata";

const m = sampleManifest();
const rendered = renderNodeCompose(m, { environmentId: "prod", sequence: 7, images: pinnedImages(m) });
const doc = parse(rendered.text);

describe("renderNodeCompose", () => {
  it("pins every image by digest", () => {
    for (const s of ["store", "web", "worker"])
      expect(doc.services[s].image).toBe(`registry.example/acme/${s}@${DIGEST}`);
  });

  it("labels containers with environment, release and service", () => {
    expect(doc.services.web.labels).toMatchObject({
      "berth.environment": "prod",
      "berth.release": "7",
      "berth.service": "web",
      "berth.update-order": "start-first",
      "com.example.team": "web",
    });
    expect(doc.services.store.labels["berth.release"]).toBeUndefined();
    expect(JSON.parse(doc.services.web.labels["berth.health"])).toEqual({
      path: "/healthz",
      port: 8081,
      status: 200,
    });
  });

  it("puts the environment on its own network, shared by every project of it", () => {
    expect(doc.networks.default).toEqual({ name: "berth_prod", external: true });
    expect(doc.networks.backend).toEqual({ name: "berth_prod_backend", external: true });
    expect(rendered.extras.networks).toEqual([
      { name: "berth_prod", internal: false },
      { name: "berth_prod_backend", internal: true },
    ]);
    expect(doc.services.web.networks).toEqual({ default: {}, backend: { aliases: ["api"] } });
  });

  it("binds named volumes to the environment's volume folder", () => {
    expect(doc.volumes.data).toEqual({ name: "berth_prod_data", external: true });
    expect(rendered.extras.volumes).toEqual([
      { name: "berth_prod_data", device: "/mnt/berth-env-prod/volumes/data/data" },
    ]);
    const local = renderNodeCompose(m, {
      environmentId: "prod",
      sequence: 7,
      images: pinnedImages(m),
      volumeRoot: "/tmp/n1/",
    });
    expect(local.extras.volumes[0]?.device).toBe("/tmp/n1/berth-env-prod/volumes/data/data");
    expect(doc.services.store.volumes).toEqual([
      { type: "volume", source: "data", target: "/data", read_only: false },
    ]);
  });

  it("names the block device of a volume on a cloud node, and refuses a disk of no volume", () => {
    const onDisk = renderNodeCompose(m, {
      environmentId: "prod",
      sequence: 7,
      images: pinnedImages(m),
      disks: { data: "/dev/disk/by-id/scsi-0HC_Volume_1234" },
    });
    expect(onDisk.extras.volumes).toEqual([
      {
        name: "berth_prod_data",
        device: "/mnt/berth-env-prod/volumes/data/data",
        disk: "/dev/disk/by-id/scsi-0HC_Volume_1234",
      },
    ]);
    expect(readNodeExtras(parse(onDisk.text)).volumes[0]?.disk).toBe("/dev/disk/by-id/scsi-0HC_Volume_1234");
    const bad = () =>
      renderNodeCompose(m, {
        environmentId: "prod",
        sequence: 7,
        images: pinnedImages(m),
        disks: { cache: "/dev/sdb", data: "/etc/../dev/sdb" },
      });
    expect(bad).toThrow(RenderError);
    expect(bad).toThrow(/disks.cache: the Compose file has no volume cache \(volumes: data\)/);
    expect(bad).toThrow(/disks.data: "\/etc\/..\/dev\/sdb" is not a device path under \/dev/);
  });

  it("publishes only routed and probed ports, on 127.0.0.1 with a port Docker picks", () => {
    expect(doc.services.web.ports).toEqual(["127.0.0.1::8080", "127.0.0.1::8081"]);
    expect(doc.services.store.ports).toBeUndefined();
    expect(doc.services.store.expose).toEqual(["6379"]);
  });

  it("sets restart, a default memory limit, log rotation; keeps health checks and depends_on", () => {
    expect(doc.services.web.restart).toBe("unless-stopped");
    expect(doc.services.web.deploy.resources.limits.memory).toBe(String(512 * 1024 * 1024));
    expect(doc.services.store.deploy.resources.limits.memory).toBe(String(128 * 1024 * 1024));
    expect(doc.services.worker.deploy.resources.limits).toMatchObject({ cpus: 0.5 });
    expect(doc.services.web.logging).toEqual({
      driver: "json-file",
      options: { "max-size": "10m", "max-file": "3" },
    });
    expect(doc.services.store.healthcheck).toEqual({
      test: ["CMD", "test", "-d", "/data"],
      interval: "1000ms",
      retries: 3,
    });
    expect(doc.services.web.depends_on).toEqual({
      store: { condition: "service_healthy", restart: true, required: true },
    });
    expect(doc.services.web.stop_grace_period).toBe("10000ms");
  });

  it("escapes $ so Compose interpolates nothing but berth's secret variables", () => {
    expect(doc.services.store.environment.PRICE).toBe("$$5");
    expect(doc.services.web.command).toEqual(["node", "server.js", "--greeting", "hello $$USER"]);
    expect(doc.services.web.environment.API_TOKEN).toBe(
      `\${${secretVariable("api-token")}:?secret api-token was not provided}`,
    );
    expect(rendered.extras.secrets).toEqual({ "api-token": secretVariable("api-token") });
  });

  it("gives distinct secrets distinct variables", () => {
    expect(secretVariable("DB")).toBe("BERTH_SECRET_DB");
    expect(secretVariable("a.b")).not.toBe(secretVariable("a_b"));
    expect(secretVariable("a.b")).toMatch(/^BERTH_SECRET_A_B_[0-9a-f]+$/);
  });

  it("lists services in start order with their update group", () => {
    expect(readNodeExtras(doc).services).toEqual([
      { name: "store", updateOrder: "stop-first", ports: [] },
      { name: "web", updateOrder: "start-first", ports: [8080, 8081] },
      { name: "worker", updateOrder: "start-first", ports: [] },
    ]);
  });

  it("is deterministic", () => {
    expect(renderNodeCompose(m, { environmentId: "prod", sequence: 7, images: pinnedImages(m) }).text).toBe(
      rendered.text,
    );
  });

  it("refuses images that are not pinned, naming each service", () => {
    const images = { ...pinnedImages(m), web: "registry.example/acme/web:latest" };
    delete (images as Record<string, string>).worker;
    expect(() => renderNodeCompose(m, { environmentId: "prod", sequence: 1, images })).toThrowError(
      RenderError,
    );
    try {
      renderNodeCompose(m, { environmentId: "prod", sequence: 1, images });
    } catch (e) {
      expect((e as RenderError).problems).toEqual([
        "services.web: image registry.example/acme/web:latest is not pinned by digest (NAME@sha256:…)",
        "services.worker: no pinned image given (build it or resolve its tag to a digest first)",
      ]);
    }
  });

  it("refuses a bad environment id or sequence", () => {
    expect(() =>
      renderNodeCompose(m, { environmentId: "Prod", sequence: 0, images: pinnedImages(m) }),
    ).toThrow(/environment id "Prod"[\s\S]*sequence 0/);
  });
});

describe("renderNodeCompose: harmless runtime fields", () => {
  it("writes them in Compose's spelling, and keeps logs rotated", () => {
    const base = sampleManifest();
    const web = base.services.web;
    if (!web) throw new Error("no web");
    Object.assign(web, {
      init: true,
      user: "1000:1000",
      workingDir: "/app",
      readOnly: true,
      tmpfs: ["/tmp:size=64m"],
      shmSizeBytes: 1024,
      ulimits: { nofile: { soft: 10, hard: 20 } },
      capDrop: ["ALL"],
      extraHosts: ["db.internal=10.0.0.5"],
      dns: ["1.1.1.1"],
      groupAdd: ["audio"],
      logging: { driver: "local", options: { "max-file": "5" } },
    });
    const d = parse(
      renderNodeCompose(base, { environmentId: "prod", sequence: 1, images: pinnedImages(base) }).text,
    ).services.web;
    expect(d).toMatchObject({
      init: true,
      user: "1000:1000",
      working_dir: "/app",
      read_only: true,
      tmpfs: ["/tmp:size=64m"],
      shm_size: "1024",
      ulimits: { nofile: { soft: 10, hard: 20 } },
      cap_drop: ["ALL"],
      extra_hosts: ["db.internal=10.0.0.5"],
      dns: ["1.1.1.1"],
      group_add: ["audio"],
      logging: { driver: "local", options: { "max-size": "10m", "max-file": "5" } },
    });
  });
});

describe("replicas and lifecycle hooks", () => {
  const base = sampleManifest();
  const web = base.services.web as NonNullable<(typeof base.services)["web"]>;
  web.replicas = 3;
  web.updateParallelism = 1;
  web.postStart = [{ command: ["sh", "-c", "echo $HOME ${X}"], user: "app", environment: { A: "$1" } }];
  web.preStop = [{ command: ["./drain"], environment: {} }];
  const r = renderNodeCompose(base, { environmentId: "prod", sequence: 7, images: pinnedImages(base) });
  const d = parse(r.text);

  it("writes deploy.replicas for Compose and the update and hooks for the agent", () => {
    expect(d.services.web.deploy.replicas).toBe(3);
    expect(d.services.store.deploy.replicas).toBeUndefined();
    // Compose 2.26 reads post_start/pre_stop but does not run them: they are the agent's, in x-berth.
    expect(d.services.web.post_start).toBeUndefined();
    const extras = readNodeExtras(d);
    expect(extras.services.find((s) => s.name === "web")).toMatchObject({
      replicas: 3,
      updateParallelism: 1,
      preStop: [{ command: ["./drain"], environment: {} }],
    });
  });

  it("escapes $ in the hooks, since Compose interpolates x-berth too; the agent reads them back as written", () => {
    const web = (d["x-berth"].services as { name: string; postStart?: unknown }[]).find(
      (s) => s.name === "web",
    );
    expect(web?.postStart).toEqual([
      { command: ["sh", "-c", "echo $$HOME $${X}"], user: "app", environment: { A: "$$1" } },
    ]);
    expect(readNodeExtras(d).services.find((s) => s.name === "web")?.postStart).toEqual([
      { command: ["sh", "-c", "echo $HOME ${X}"], user: "app", environment: { A: "$1" } },
    ]);
  });
});

describe("x-berth's free text: backup hooks and configs' content", () => {
  const base = sampleManifest();
  base.volumes.data = {
    labels: {},
    backup: {
      enabled: true,
      before: { service: "store", command: ["sh", "-c", "dump > /data/${DB:?unset}.sql; echo $$"] },
      after: { service: "store", command: ["sh", "-c", "rm -f /data/$DB.sql"] },
      stop: [],
    },
  };
  base.configs = { nginx: { content: "proxy_set_header Host $host; ${NOT:?interpolated}\n" } };
  (base.services.web as NonNullable<(typeof base.services)["web"]>).configs = [
    { source: "nginx", target: "/etc/nginx/conf.d/app.conf", uid: 0, gid: 0, mode: 0o444 },
  ];
  const backup = environmentBackupSchema.parse({
    target: { endpoint: "https://s3.example", bucket: "acme-backups" },
    schedule: "0 2 * * *",
  });
  const d = parse(
    renderNodeCompose(base, { environmentId: "prod", sequence: 3, images: pinnedImages(base), backup }).text,
  );

  it("writes every $ as $$, so Compose's interpolation of x-berth gives the text back", () => {
    const v = d["x-berth"].backup.volumes[0];
    expect(v.before.command).toEqual(["sh", "-c", "dump > /data/$${DB:?unset}.sql; echo $$$$"]);
    expect(v.after.command).toEqual(["sh", "-c", "rm -f /data/$$DB.sql"]);
    expect(d["x-berth"].files[0].content).toBe("proxy_set_header Host $$host; $${NOT:?interpolated}\n");
  });

  it("reads them back as the program meant them", () => {
    const x = readNodeExtras(d);
    expect(x.backup?.volumes[0]?.before?.command).toEqual([
      "sh",
      "-c",
      "dump > /data/${DB:?unset}.sql; echo $$",
    ]);
    expect(x.backup?.volumes[0]?.after?.command).toEqual(["sh", "-c", "rm -f /data/$DB.sql"]);
    expect(x.files?.[0]?.content).toBe("proxy_set_header Host $host; ${NOT:?interpolated}\n");
  });
});
