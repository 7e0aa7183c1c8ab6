// The Release's check (what `pulumi preview` shows): backup problems name the field, a backup
// secret without a value names the config key to set, and Compose problems keep FILE:LINE:COL.
import { describe, expect, it } from "vitest";
import { check, type ReleaseInputs } from "./release";

const compose = `services:
  db:
    image: ghcr.io/acme/apps/db@sha256:${"a".repeat(64)}
    volumes: [data:/data]
volumes:
  data:
    x-berth-backup: { schedule: "every hour" }
`;

function inputs(extra: Partial<ReleaseInputs>): ReleaseInputs {
  return {
    berthKind: "release",
    berthProviderVersion: "2",
    environmentId: "shop",
    nodeId: "web-1",
    channel: { kind: "folder", path: "/tmp/x" },
    composeFile: "compose.yaml",
    composeText: compose.replace('schedule: "every hour"', 'schedule: "0 * * * *"'),
    projectDir: "/srv",
    variables: {},
    images: {},
    registry: { host: "ghcr.io", prefix: "acme/apps", allowOutside: false, username: "u", password: "p" },
    secrets: {},
    signingKey: "k",
    timeoutSeconds: 60,
    summary: { services: {}, volumes: [], routes: [] },
    ...extra,
  } as ReleaseInputs;
}

describe("Release check with backups", () => {
  it("names wrong backup fields and the secrets that have no value", async () => {
    const r = await check(
      {},
      inputs({
        backup: { target: { endpoint: "https://s3.example.com", bucket: "b" }, retention: {} } as never,
      }),
    );
    const reasons = (r.failures ?? []).map((f) => `${f.property}: ${f.reason}`);
    expect(reasons.join("\n")).toMatch(
      /backup: environment shop: backup.target.bucket: must be a bucket name/,
    );
    expect(reasons.join("\n")).toMatch(/backup: environment shop: backup.retention: keep at least something/);
    const ok = await check(
      {},
      inputs({ backup: { target: { endpoint: "https://s3.example.com", bucket: "backups" } } as never }),
    );
    expect((ok.failures ?? []).map((f) => f.reason)).toEqual([
      "environment shop: backup.secrets.password: the secret backup-password has no value: pulumi config set --secret --path 'berth:secrets.backup-password' VALUE",
      "environment shop: backup.secrets.accessKeyId: the secret backup-access-key-id has no value: pulumi config set --secret --path 'berth:secrets.backup-access-key-id' VALUE",
      "environment shop: backup.secrets.secretAccessKey: the secret backup-secret-access-key has no value: pulumi config set --secret --path 'berth:secrets.backup-secret-access-key' VALUE",
    ]);
  });

  it("shows an x-berth-backup problem at its line and column", async () => {
    const r = await check({}, inputs({ composeText: compose }));
    expect(r.failures?.[0]?.reason).toMatch(
      /^compose.yaml:7:33 volumes.data.x-berth-backup.schedule: "every hour" is not a cron expression/,
    );
  });
});

describe("Release check on a node group", () => {
  const swarm = { group: "web", volumeNodes: { data: "web-2" }, versionKey: "ab".repeat(32) };
  const app = `services:
  web:
    image: ghcr.io/acme/apps/web@sha256:${"b".repeat(64)}
    environment:
      TOKEN: { x-berth-secret: api-token }
`;

  it("shows at preview what the Swarm render refuses, naming the group", async () => {
    const r = await check(
      {},
      inputs({ composeText: app, secrets: { "api-token": "v" }, swarm: { ...swarm, volumeNodes: {} } }),
    );
    const reasons = (r.failures ?? []).map((f) => f.reason);
    expect(reasons).toHaveLength(1);
    expect(reasons[0]).toMatch(
      /^compose.yaml: on node group web: services.web.environment.TOKEN: .*secrets:/,
    );
    // The same file on a single node is fine.
    expect((await check({}, inputs({ composeText: app, secrets: { "api-token": "v" } }))).failures).toEqual(
      [],
    );
  });

  it("passes a file the Swarm render takes", async () => {
    const plain = compose
      .replace('schedule: "every hour"', 'schedule: "0 * * * *"')
      .replace(/\n\s+x-berth-backup.*\n/, "\n");
    expect((await check({}, inputs({ composeText: plain, swarm }))).failures).toEqual([]);
  });
});
