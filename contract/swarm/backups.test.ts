import { describe, expect, it } from "vitest";
import { generateNodeKeyPair, generateSigningKeyPair } from "../payload";
import {
  type BackupOrder,
  backupOrderKey,
  openBackupOrder,
  type SwarmBackup,
  sealOrderSecrets,
  signBackupOrder,
  swarmBackupSchema,
  verifyBackupOrder,
} from "./backups";

const leader = generateSigningKeyPair();
const web1 = generateNodeKeyPair();
const web2 = generateNodeKeyPair();
const members = [
  { nodeId: "web-1", publicKey: web1.publicKey },
  { nodeId: "web-2", publicKey: web2.publicKey },
];
const VALUES = {
  "backup-password": "restic-pw-1f2e",
  "backup-access-key-id": "AKIAEXAMPLE",
  "backup-secret-access-key": "s3cr3t-bucket-key",
};
const backup: SwarmBackup = swarmBackupSchema.parse({
  repository: "s3:http://127.0.0.1:7070/backups/shop",
  region: "auto",
  pruneSchedule: "30 4 * * *",
  checkSchedule: "0 5 * * 0",
  restoreOnFirstApply: true,
  secrets: {
    password: "backup-password",
    accessKeyId: "backup-access-key-id",
    secretAccessKey: "backup-secret-access-key",
  },
  volumes: [
    { name: "data", node: "web-2", schedule: "0 3 * * *", retention: { last: 3 }, stop: [] },
    { name: "logs", node: "web-2", schedule: "0 3 * * *", retention: { last: 3 }, stop: [] },
  ],
});

const order = (
  o: {
    sequence?: number;
    environmentId?: string;
    key?: string;
    sealedFor?: { environmentId?: string; sequence?: number };
  } = {},
) => {
  const environmentId = o.environmentId ?? "shop";
  const sequence = o.sequence ?? 4;
  return signBackupOrder(
    {
      group: "web",
      environmentId,
      sequence,
      withdrawn: false,
      backup,
      maintainer: "web-2",
      secrets: sealOrderSecrets(backup, VALUES, members, {
        environmentId: o.sealedFor?.environmentId ?? environmentId,
        sequence: o.sealedFor?.sequence ?? sequence,
      }),
    },
    o.key ?? leader.privateKey,
  );
};
const expectFor = { group: "web", environmentId: "shop", leaderStatusKey: leader.publicKey };

describe("a swarm environment's backup order", () => {
  it("the holder verifies it, opens its own boxes, and gets its volumes and the secrets", () => {
    expect(backupOrderKey("web", "shop")).toBe("swarm/web/backups/shop.json");
    const o = verifyBackupOrder(order(), expectFor);
    const held = openBackupOrder(o, "web-2", web2.privateKey);
    expect(held?.secrets).toEqual(VALUES);
    expect(held?.maintains).toBe(true);
    expect(held?.backup.volumes.map((v) => v.name)).toEqual(["data", "logs"]);
    // A member that holds no volume gets no box and nothing to run.
    expect(o.secrets?.["web-1"]).toBeUndefined();
    expect(openBackupOrder(o, "web-1", web1.privateKey)).toBeUndefined();
  });

  it("holds no secret in plain text", () => {
    const text = order();
    for (const v of Object.values(VALUES)) expect(text).not.toContain(v);
  });

  it("is refused when signed by a key that is not the leader's (a non-leader member, a channel writer)", () => {
    const member = generateSigningKeyPair();
    expect(() => verifyBackupOrder(order({ key: member.privateKey }), expectFor)).toThrow(
      /signed by ed25519:[0-9a-f]+, not by the leader's key/,
    );
    // The leader's key id over another's signature: the signature does not verify.
    const forged = order({ key: member.privateKey }).replace(
      /"keyId":"[^"]+"/,
      `"keyId":"${JSON.parse(order()).keyId}"`,
    );
    expect(() => verifyBackupOrder(forged, expectFor)).toThrow(/the signature does not verify/);
    const changed = order().replace('"maintainer":"web-2"', '"maintainer":"web-1"');
    expect(() => verifyBackupOrder(changed, expectFor)).toThrow(/the signature does not verify/);
  });

  it("is refused for another environment, and below the floor", () => {
    expect(() => verifyBackupOrder(order({ environmentId: "blog" }), expectFor)).toThrow(
      /the order is blog's/,
    );
    expect(() =>
      verifyBackupOrder(order({ sequence: 3 }), { ...expectFor, floor: { sequence: 4, withdrawn: false } }),
    ).toThrow(/release 3 is below release 4/);
    expect(() => verifyBackupOrder("{", expectFor)).toThrow(/not a signed backup order/);
  });

  it("a box for another node does not open: web-2's boxes moved to web-1, or opened with web-1's key", () => {
    const o = verifyBackupOrder(order(), expectFor);
    const moved: BackupOrder = {
      ...o,
      backup: { ...backup, volumes: backup.volumes.map((v) => ({ ...v, node: "web-1" })) },
      secrets: { "web-1": o.secrets?.["web-2"] ?? [] },
    };
    expect(() => openBackupOrder(moved, "web-1", web1.privateKey)).toThrow(/cannot be opened/);
    expect(() => openBackupOrder(o, "web-2", web1.privateKey)).toThrow(/cannot be opened/);
  });

  it("a box sealed for another release or another environment does not open", () => {
    const otherRelease = verifyBackupOrder(order({ sealedFor: { sequence: 3 } }), expectFor);
    expect(() => openBackupOrder(otherRelease, "web-2", web2.privateKey)).toThrow(/cannot be opened/);
    const otherEnv = verifyBackupOrder(order({ sealedFor: { environmentId: "blog" } }), expectFor);
    expect(() => openBackupOrder(otherEnv, "web-2", web2.privateKey)).toThrow(/cannot be opened/);
    // A box renamed (the access key's box under the password's name) does not open either.
    const o = verifyBackupOrder(order(), expectFor);
    const boxes = o.secrets?.["web-2"] ?? [];
    const renamed = boxes.map((b) =>
      b.name === "backup-access-key-id" ? { ...b, name: "backup-password" } : b,
    );
    expect(() => openBackupOrder({ ...o, secrets: { "web-2": renamed } }, "web-2", web2.privateKey)).toThrow(
      /cannot be opened/,
    );
  });

  it("an order naming this node's volumes with no box for it, or a box missing, is refused", () => {
    const o = verifyBackupOrder(order(), expectFor);
    expect(() => openBackupOrder({ ...o, secrets: {} }, "web-2", web2.privateKey)).toThrow(
      /names volumes on node web-2, but no secret is sealed to it/,
    );
    const two = (o.secrets?.["web-2"] ?? []).filter((b) => b.name !== "backup-password");
    expect(() => openBackupOrder({ ...o, secrets: { "web-2": two } }, "web-2", web2.privateKey)).toThrow(
      /no box for the backup secret backup-password/,
    );
  });

  it("the leader seals only to holders the membership lists, and only with every secret", () => {
    expect(() =>
      sealOrderSecrets(backup, VALUES, members.slice(0, 1), { environmentId: "shop", sequence: 4 }),
    ).toThrow(/volumes data, logs of shop: held by web-2, which the group's membership does not list/);
    expect(() =>
      sealOrderSecrets(backup, { ...VALUES, "backup-password": "" }, members, {
        environmentId: "shop",
        sequence: 4,
      }),
    ).toThrow(/no value for the backup secret backup-password/);
  });

  it("a withdrawn order names nothing to run", () => {
    const text = signBackupOrder(
      { group: "web", environmentId: "shop", sequence: 5, withdrawn: true },
      leader.privateKey,
    );
    expect(openBackupOrder(verifyBackupOrder(text, expectFor), "web-2", web2.privateKey)).toBeUndefined();
    expect(() =>
      signBackupOrder(
        { group: "web", environmentId: "shop", sequence: 5, withdrawn: false },
        leader.privateKey,
      ),
    ).toThrow(/needs backup, maintainer, secrets/);
  });
});
