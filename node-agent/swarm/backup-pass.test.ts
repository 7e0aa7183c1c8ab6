// The backup orders of a node group against a folder channel (the real engines and restic:
// test/system/swarm-backup.test.ts): what the leader writes, what a holder keeps, what it refuses.
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FolderChannelStore } from "../../contract/channel/folder-store";
import { generateNodeKeyPair, generateSigningKeyPair, TrustedKeys } from "../../contract/payload";
import {
  backupOrderKey,
  type SwarmBackup,
  sealOrderSecrets,
  signBackupOrder,
  swarmBackupSchema,
} from "../../contract/swarm/backups";
import { membershipKey, signMembership } from "../../contract/swarm/membership";
import { createLogger } from "../../lib/log";
import { recordingRunner } from "../testing/recording-runner";
import {
  HeldBackupOrders,
  type LedBackup,
  nodeBackupOf,
  type OrderMemo,
  publishBackupOrders,
} from "./backup-pass";
import { SwarmPass } from "./swarm-pass";

const leaderStatus = generateSigningKeyPair();
const web1 = generateNodeKeyPair();
const web2 = generateNodeKeyPair();
const members = [
  { nodeId: "web-1", publicKey: web1.publicKey },
  { nodeId: "web-2", publicKey: web2.publicKey },
];
const SECRETS = {
  "backup-password": "pw-held-0a1b",
  "backup-access-key-id": "AKID-held",
  "backup-secret-access-key": "sk-held-9z",
  "api-token": "never-handed-on",
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
  volumes: [{ name: "data", node: "web-2", schedule: "0 3 * * *", retention: { last: 3 }, stop: [] }],
});
const led = (sequence = 3): LedBackup => ({ environmentId: "shop", sequence, backup, secrets: SECRETS });

function channel() {
  const dir = mkdtempSync(join(tmpdir(), "berth-backup-pass-"));
  return { dir, channel: new FolderChannelStore(join(dir, "channel")) };
}

const publish = (
  c: FolderChannelStore,
  environments: LedBackup[],
  memo: OrderMemo = new Map(),
  m = members,
) =>
  publishBackupOrders(c, {
    group: "web",
    statusPrivateKey: leaderStatus.privateKey,
    statusPublicKey: leaderStatus.publicKey,
    environments,
    memo,
    members: m,
  });

const holder = (dir: string, nodeId = "web-2", key = web2.privateKey) =>
  new HeldBackupOrders(join(dir, nodeId), { nodeId, nodePrivateKey: key });

describe("backup orders on a node group", () => {
  it("the leader seals the backup's secrets to the holder only; the holder keeps the order sealed and opens it in memory", async () => {
    const { dir, channel: c } = channel();
    expect(await publish(c, [led()])).toEqual([
      { group: "web", environmentId: "shop", outcome: "written", detail: "release 3: data on web-2" },
    ]);
    const text = (await c.get(backupOrderKey("web", "shop"))) ?? "";
    for (const v of Object.values(SECRETS)) expect(text).not.toContain(v);
    expect(JSON.parse(text).order.secrets).toHaveProperty("web-2");
    expect(JSON.parse(text).order.secrets).not.toHaveProperty("web-1");
    const h = holder(dir);
    expect(await h.refresh(c, { group: "web", leaderStatusKey: leaderStatus.publicKey })).toEqual([
      {
        group: "web",
        environmentId: "shop",
        outcome: "held",
        detail: "release 3: backs up data; prunes and checks the repository",
      },
    ]);
    const [held] = h.held();
    expect(held?.held.secrets).toEqual({
      "backup-password": "pw-held-0a1b",
      "backup-access-key-id": "AKID-held",
      "backup-secret-access-key": "sk-held-9z",
    });
    // On the holder's disk: the sealed order only.
    const kept = readFileSync(join(dir, "web-2", "swarm", "backup-orders", "web", "shop.json"), "utf8");
    for (const v of Object.values(SECRETS)) expect(kept).not.toContain(v);
    // A member that holds no volume keeps nothing.
    const other = holder(dir, "web-1", web1.privateKey);
    expect(
      (await other.refresh(c, { group: "web", leaderStatusKey: leaderStatus.publicKey }))[0]?.outcome,
    ).toBe("not-held");
    expect(other.held()).toEqual([]);
    // Unchanged: not written again.
    const memo: OrderMemo = new Map();
    await publish(c, [led()], memo);
    expect(await publish(c, [led()], memo)).toEqual([]);
  });

  it("a holder refuses an order signed by a key that is not the leader's, and keeps what it had", async () => {
    const { dir, channel: c } = channel();
    await publish(c, [led()]);
    const h = holder(dir);
    await h.refresh(c, { group: "web", leaderStatusKey: leaderStatus.publicKey });
    const nonLeader = generateSigningKeyPair();
    await c.put(
      backupOrderKey("web", "shop"),
      signBackupOrder(
        {
          group: "web",
          environmentId: "shop",
          sequence: 4,
          withdrawn: false,
          backup: { ...backup, repository: "s3:http://attacker.invalid/b/shop" },
          maintainer: "web-2",
          secrets: sealOrderSecrets(backup, SECRETS, members, { environmentId: "shop", sequence: 4 }),
        },
        nonLeader.privateKey,
      ),
    );
    const [step] = await h.refresh(c, { group: "web", leaderStatusKey: leaderStatus.publicKey });
    expect(step).toMatchObject({ outcome: "refused" });
    expect(step?.detail).toMatch(/not by the leader's key/);
    expect(h.held()[0]?.held.backup.repository).toBe("s3:http://127.0.0.1:7070/backups/shop");
  });

  it("a holder refuses another environment's order, a replayed older one, and one whose box is another node's", async () => {
    const { dir, channel: c } = channel();
    await publish(c, [led(5)]);
    const h = holder(dir);
    await h.refresh(c, { group: "web", leaderStatusKey: leaderStatus.publicKey });
    const sign = (o: { environmentId: string; sequence: number; sealTo?: typeof members }) =>
      signBackupOrder(
        {
          group: "web",
          environmentId: o.environmentId,
          sequence: o.sequence,
          withdrawn: false,
          backup,
          maintainer: "web-2",
          secrets: sealOrderSecrets(backup, SECRETS, o.sealTo ?? members, {
            environmentId: o.environmentId,
            sequence: o.sequence,
          }),
        },
        leaderStatus.privateKey,
      );
    const refused = async (text: string) => {
      await c.put(backupOrderKey("web", "shop"), text);
      const [step] = await h.refresh(c, { group: "web", leaderStatusKey: leaderStatus.publicKey });
      expect(step?.outcome).toBe("refused");
      return step?.detail ?? "";
    };
    expect(await refused(sign({ environmentId: "blog", sequence: 6 }))).toMatch(/the order is blog's/);
    expect(await refused(sign({ environmentId: "shop", sequence: 4 }))).toMatch(
      /release 4 is below release 5/,
    );
    // web-2's boxes sealed to web-1's key (a box for another node) do not open on web-2.
    const swapped = [{ nodeId: "web-2", publicKey: web1.publicKey }];
    expect(await refused(sign({ environmentId: "shop", sequence: 6, sealTo: swapped }))).toMatch(
      /cannot be opened/,
    );
    expect(h.held()[0]?.sequence).toBe(5);
  });

  it("the leader seals again when a holder's key changes (a replaced node), and withdraws an environment it no longer runs", async () => {
    const { dir, channel: c } = channel();
    const memo: OrderMemo = new Map();
    await publish(c, [led()], memo);
    const replaced = generateNodeKeyPair();
    const newMembers = [
      members[0] as (typeof members)[0],
      { nodeId: "web-2", publicKey: replaced.publicKey },
    ];
    expect((await publish(c, [led()], memo, newMembers))[0]?.outcome).toBe("written");
    const h = holder(dir, "web-2", replaced.privateKey);
    expect((await h.refresh(c, { group: "web", leaderStatusKey: leaderStatus.publicKey }))[0]?.outcome).toBe(
      "held",
    );
    expect(await publish(c, [], memo, newMembers)).toEqual([
      { group: "web", environmentId: "shop", outcome: "withdrawn", detail: "release 3" },
    ]);
    expect((await h.refresh(c, { group: "web", leaderStatusKey: leaderStatus.publicKey }))[0]?.outcome).toBe(
      "withdrawn",
    );
    expect(h.held()).toEqual([]);
  });

  it("the holder finds each volume's folder where its engine keeps it", async () => {
    const docker = recordingRunner((argv) =>
      argv.includes("berth_shop_data")
        ? { stdout: "/var/lib/docker/volumes/berth_shop_data/_data\n" }
        : undefined,
    );
    const nb = await nodeBackupOf(docker.run, "shop", backup);
    expect(nb.volumes).toEqual([
      {
        name: "data",
        device: "/var/lib/docker/volumes/berth_shop_data/_data",
        schedule: "0 3 * * *",
        retention: { last: 3 },
        stop: [],
      },
    ]);
    expect(docker.lines()).toEqual([
      "docker volume inspect --format {{json .Options}} berth_shop_data",
      "docker volume inspect --format {{.Mountpoint}} berth_shop_data",
    ]);
  });

  it("a volume bound to a folder (on a cloud disk) is backed up from that folder", async () => {
    const docker = recordingRunner((argv) =>
      argv.includes("{{json .Options}}")
        ? { stdout: '{"device":"/mnt/berth-env-shop/volumes/data/data","o":"bind","type":"none"}\n' }
        : undefined,
    );
    const nb = await nodeBackupOf(docker.run, "shop", backup);
    expect(nb.volumes[0]?.device).toBe("/mnt/berth-env-shop/volumes/data/data");
    expect(docker.lines()).toEqual(["docker volume inspect --format {{json .Options}} berth_shop_data"]);
  });
});

describe("a holder joining the swarm", () => {
  const program = generateSigningKeyPair();
  const web1Status = leaderStatus;
  const web2Status = generateSigningKeyPair();
  const membership = (web2Key: string) =>
    signMembership(
      {
        group: "web",
        generation: 1,
        issuedAt: new Date().toISOString(),
        expiresAt: new Date(Date.now() + 3600_000).toISOString(),
        leader: "web-1",
        leaderAddress: "10.9.0.1",
        members: [
          {
            nodeId: "web-1",
            role: "manager",
            publicKey: web1.publicKey,
            statusKey: web1Status.publicKey,
            address: "10.9.0.1",
          },
          {
            nodeId: "web-2",
            role: "worker",
            publicKey: web2Key,
            statusKey: web2Status.publicKey,
            address: "10.9.0.2",
          },
        ],
      },
      program.privateKey,
    );

  it("waits while an order naming its volumes does not open for it, then restores before it joins", async () => {
    const { dir, channel: c } = channel();
    const log = createLogger("backup-pass-test");
    log.level = "silent";
    const replaced = generateNodeKeyPair();
    await c.put(membershipKey("web"), membership(replaced.publicKey));
    // The order still sealed to web-2's old key.
    await publish(c, [led()]);
    const docker = recordingRunner((argv) =>
      argv[1] === "info" ? { stdout: JSON.stringify({ LocalNodeState: "inactive", NodeID: "" }) } : undefined,
    );
    const restores: string[] = [];
    const pass = new SwarmPass({
      nodeId: "web-2",
      channel: c,
      docker: docker.run,
      trusted: new TrustedKeys([program.publicKey]),
      nodePrivateKey: replaced.privateKey,
      statusPrivateKey: web2Status.privateKey,
      stateRoot: join(dir, "web-2"),
      log,
      heldOrders: new HeldBackupOrders(join(dir, "web-2"), {
        nodeId: "web-2",
        nodePrivateKey: replaced.privateKey,
      }),
      beforeJoin: async (group) => {
        restores.push(group);
        return undefined;
      },
    });
    const [waiting] = await pass.run();
    expect(waiting).toMatchObject({ group: "web", outcome: "waiting" });
    expect(waiting?.detail).toMatch(
      /not joining before the backup orders open for this node.*shop: .*cannot be opened/,
    );
    expect(restores).toEqual([]);
    // The leader seals to the new key: the node restores, then looks for its join offer.
    await publish(c, [led()], new Map(), [
      members[0] as (typeof members)[0],
      { nodeId: "web-2", publicKey: replaced.publicKey },
    ]);
    const [next] = await pass.run();
    expect(restores).toEqual(["web"]);
    expect(next).toMatchObject({ outcome: "waiting", detail: expect.stringMatching(/^no join offer/) });
    expect(readdirSync(join(dir, "web-2", "swarm", "backup-orders", "web"))).toEqual(["shop.json"]);
  });
});
