import { describe, expect, it } from "vitest";
import { environmentBackupSchema } from "../backup/schema";
import { renderBackup } from "../render/node-compose";
import { formatProblem } from "./problem";
import { accept, at, reject } from "./testing";

const file = (volume: string) => `services:
  db:
    image: nginx
    volumes: [data:/data, cache:/cache]
  worker:
    image: nginx
volumes:
  data:
${volume}
  cache:
    x-berth-backup: false
`;

describe("x-berth-backup on a volume", () => {
  it("reads schedule, retention, hooks and stop; false turns a volume's backups off", () => {
    const r = accept(
      file(`    x-berth-backup:
      schedule: "0 */6 * * *"
      retention: { last: 4, daily: 7 }
      before: { service: db, command: sqlite3 /data/app.db ".backup /data/app.db.bak" }
      after: { service: db, command: [rm, -f, /data/app.db.bak] }
      stop: [worker]`),
    );
    expect(r.manifest.volumes.data?.backup).toEqual({
      enabled: true,
      schedule: "0 */6 * * *",
      retention: { last: 4, daily: 7 },
      before: { service: "db", command: ["sqlite3", "/data/app.db", ".backup /data/app.db.bak"] },
      after: { service: "db", command: ["rm", "-f", "/data/app.db.bak"] },
      stop: ["worker"],
    });
    expect(r.manifest.volumes.cache?.backup).toEqual({ enabled: false, stop: [] });
  });

  it("reports each wrong field at its line and column", () => {
    const ps = reject(
      file(`    x-berth-backup:
      schedule: every night
      retention: { daily: 0, forever: true }
      before: { service: dbx, command: dump }
      after: { command: x }
      stop: [nobody]
      when: later`),
    );
    const text = ps.map(formatProblem).join("\n");
    expect(at(ps, "volumes.data.x-berth-backup.schedule").message).toMatch(/not a cron expression/);
    expect(at(ps, "volumes.data.x-berth-backup.schedule").line).toBe(10);
    expect(at(ps, "volumes.data.x-berth-backup.retention.daily").message).toMatch(/1 to 10000/);
    expect(at(ps, "volumes.data.x-berth-backup.retention.forever").message).toMatch(
      /unknown retention field/,
    );
    expect(at(ps, "volumes.data.x-berth-backup.before.service").message).toMatch(/dbx, which is not defined/);
    expect(at(ps, "volumes.data.x-berth-backup.after").message).toMatch(/needs service/);
    expect(at(ps, "volumes.data.x-berth-backup.stop[0]").message).toMatch(/nobody/);
    expect(at(ps, "volumes.data.x-berth-backup.when").message).toMatch(/unknown x-berth-backup field/);
    expect(text).toMatch(/^compose.yaml:\d+:\d+ /);
  });

  it("an unknown berth key on a volume is still refused", () => {
    const ps = reject(file("    x-berth-backups: false"));
    expect(at(ps, "volumes.data.x-berth-backups").message).toMatch(/unknown berth extension/);
  });

  it("renders what the node needs: repository, per-volume schedule and retention, no secret value", () => {
    const r = accept(file(`    x-berth-backup: { retention: { last: 2 }, stop: [worker] }`));
    const b = environmentBackupSchema.parse({
      target: {
        endpoint: "https://s3.fr-par.scw.cloud",
        bucket: "acme-backups",
        region: "fr-par",
        prefix: "prod",
      },
      schedule: "0 2 * * *",
    });
    expect(renderBackup(r.manifest, "shop", "/mnt", b)).toEqual({
      repository: "s3:https://s3.fr-par.scw.cloud/acme-backups/prod/shop",
      region: "fr-par",
      pruneSchedule: "30 4 * * *",
      checkSchedule: "0 5 * * 0",
      restoreOnFirstApply: true,
      secrets: {
        password: "backup-password",
        accessKeyId: "backup-access-key-id",
        secretAccessKey: "backup-secret-access-key",
      },
      volumes: [
        {
          name: "data",
          device: "/mnt/berth-env-shop/volumes/data/data",
          schedule: "0 2 * * *",
          retention: { last: 2 },
          stop: ["worker"],
        },
      ],
    });
  });
});

describe("the environment's backup declaration", () => {
  it("names the field that is wrong", () => {
    const r = environmentBackupSchema.safeParse({
      target: { endpoint: "ftp://x", bucket: "A" },
      schedule: "nightly",
      retention: {},
    });
    expect(r.success).toBe(false);
    const paths = r.error?.issues.map((i) => `${i.path.join(".")}: ${i.message}`) ?? [];
    expect(paths.join("\n")).toMatch(/target.endpoint: must be an http\(s\) URL/);
    expect(paths.join("\n")).toMatch(/target.bucket: must be a bucket name/);
    expect(paths.join("\n")).toMatch(/schedule: "nightly" is not a cron expression/);
    expect(paths.join("\n")).toMatch(/retention: keep at least something/);
  });
});
