// The node's side of signed statuses: every status it writes verifies against its status key
// (and against nothing else), its identity carries the MAC of its enrollment secret, and the
// heartbeat rewrites a status that is older than the interval.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { FolderChannelStore } from "../../contract/channel/folder-store";
import { channelKeys } from "../../contract/channel/layout";
import { enrollmentSecretFor, verifyIdentity } from "../../contract/channel/node-identity";
import { verifyStatus } from "../../contract/channel/status-signature";
import { generateNodeKeyPair, generateSigningKeyPair } from "../../contract/payload";
import type { ReleaseStore } from "../state/release-store";
import { StatusPublisher } from "./publisher";

const dir = mkdtempSync(join(tmpdir(), "berth-publisher-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("StatusPublisher signs what it says", () => {
  const channel = new FolderChannelStore(dir);
  const status = generateSigningKeyPair();
  const sealing = generateNodeKeyPair();
  const secret = enrollmentSecretFor(generateSigningKeyPair().privateKey, "n1");
  let now = new Date("2026-12-06T08:00:00.000Z");
  const store = {
    current: () => 3,
    sequences: () => [3],
    readMetadata: () => ({ sequence: 3, outcome: "applied" }),
  } as unknown as ReleaseStore;
  const p = new StatusPublisher({
    channel,
    nodeId: "n1",
    publicKey: sealing.publicKey,
    statusKey: { publicKey: status.publicKey, privateKey: status.privateKey },
    enrollmentSecret: secret,
    heartbeatSeconds: 30,
    store: () => store,
    environments: () => ["demo"],
    backupStatus: () => undefined,
    now: () => now,
  });
  const read = async () => (await channel.get(channelKeys.status("n1", "demo"))) as string;
  const expectAs = { statusKey: status.publicKey, nodeId: "n1", environmentId: "demo" };

  it("publishes its identity with its two keys and the MAC of its enrollment secret", async () => {
    await p.publishIdentity();
    const id = verifyIdentity((await channel.get(channelKeys.identity("n1"))) as string, "n1", secret);
    expect(id).toMatchObject({ publicKey: sealing.publicKey, statusKey: status.publicKey });
  });

  it("signs each status with its status key, heartbeat included; another key does not verify it", async () => {
    await p.report({
      environmentId: "demo",
      appliedSequence: 3,
      attemptedSequence: 3,
      state: "applied",
      services: [],
    });
    const check = verifyStatus(await read(), expectAs);
    expect(check).toMatchObject({
      ok: true,
      status: { state: "applied", heartbeat: { at: now.toISOString(), intervalSeconds: 30 } },
    });
    expect(
      verifyStatus(await read(), { ...expectAs, statusKey: generateSigningKeyPair().publicKey }).ok,
    ).toBe(false);
  });

  it("heartbeats: rewrites the status once the interval has passed, not before", async () => {
    const first = await read();
    now = new Date(now.getTime() + 10_000);
    await p.heartbeat();
    expect(await read()).toBe(first);
    now = new Date(now.getTime() + 25_000);
    await p.heartbeat();
    const check = verifyStatus(await read(), expectAs);
    expect(check.ok && check.status.heartbeat?.at).toBe(now.toISOString());
    expect(check.ok && check.status.state).toBe("applied");
  });

  it("after a restart, heartbeats from its own verified status, never from a forged one", async () => {
    const restarted = new StatusPublisher({
      channel,
      nodeId: "n1",
      publicKey: sealing.publicKey,
      statusKey: { publicKey: status.publicKey, privateKey: status.privateKey },
      heartbeatSeconds: 30,
      store: () => store,
      environments: () => ["demo"],
      backupStatus: () => undefined,
      now: () => now,
    });
    await channel.put(
      channelKeys.status("n1", "demo"),
      JSON.stringify({
        formatVersion: 1,
        nodeId: "n1",
        environmentId: "demo",
        state: "failed",
        error: "forged",
        services: [],
        updatedAt: "x",
      }),
    );
    await restarted.heartbeat();
    const check = verifyStatus(await read(), expectAs);
    expect(check).toMatchObject({ ok: true, status: { state: "applied", appliedSequence: 3 } });
  });
});

describe("StatusPublisher on a volume's holder in a node group", () => {
  it("reports the held backups signed, at the order's release, without making the environment's store", async () => {
    const channel = new FolderChannelStore(join(dir, "holder"));
    const status = generateSigningKeyPair();
    const stores: string[] = [];
    const backup = {
      state: "ok" as const,
      repository: "s3:http://127.0.0.1:7070/b/shop",
      volumes: [{ volume: "data", missed: 0 }],
    };
    const p = new StatusPublisher({
      channel,
      nodeId: "web-2",
      publicKey: generateNodeKeyPair().publicKey,
      statusKey: { publicKey: status.publicKey, privateKey: status.privateKey },
      heartbeatSeconds: 30,
      store: (env) => {
        stores.push(env);
        return { current: () => undefined } as unknown as ReleaseStore;
      },
      current: () => undefined,
      environments: () => ["shop"],
      backupStatus: () => backup,
    });
    await p.reportBackup("shop", { heldSequence: 4 });
    const check = verifyStatus((await channel.get(channelKeys.status("web-2", "shop"))) as string, {
      statusKey: status.publicKey,
      nodeId: "web-2",
      environmentId: "shop",
    });
    expect(check).toMatchObject({
      ok: true,
      status: { state: "applied", appliedSequence: 4, services: [], backup },
    });
    // The next order's release: the holder's status follows it.
    await p.reportBackup("shop", { heldSequence: 5 });
    const next = verifyStatus((await channel.get(channelKeys.status("web-2", "shop"))) as string, {
      statusKey: status.publicKey,
      nodeId: "web-2",
      environmentId: "shop",
    });
    expect(next).toMatchObject({ ok: true, status: { appliedSequence: 5 } });
    expect(stores).toEqual([]);
  });
});
