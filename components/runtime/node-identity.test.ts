// The identity rule of the node resources against a real folder channel: first contact takes the
// keys of a document with the node's MAC; later, a document without it, or new keys nobody
// accepted, fail the diff (the preview) naming the node and what accepts them.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { FolderChannelStore } from "../../contract/channel/folder-store";
import { channelKeys } from "../../contract/channel/layout";
import { acceptanceIdOf, enrollmentSecretFor, identityDocument } from "../../contract/channel/node-identity";
import { generateNodeKeyPair, generateSigningKeyPair } from "../../contract/payload";
import { type LocalNodeOutputs, diff as localDiff } from "./local-node";
import {
  diff,
  firstContact,
  type NodeIdentityInputs,
  type NodeIdentityOutputs,
  update,
} from "./node-identity";

const dir = mkdtempSync(join(tmpdir(), "berth-identity-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const channel = new FolderChannelStore(join(dir, "channel"));
const program = generateSigningKeyPair().privateKey;
const secret = enrollmentSecretFor(program, "web-1");

function keys() {
  const sealing = generateNodeKeyPair();
  const status = generateSigningKeyPair();
  return { publicKey: sealing.publicKey, statusKey: status.publicKey, statusKeyId: status.keyId };
}
function doc(k: { publicKey: string; statusKey: string }, enrollment = secret, nodeId = "web-1") {
  return identityDocument(
    {
      nodeId,
      publicKey: k.publicKey,
      statusKey: k.statusKey,
      agentVersion: "1",
      publishedAt: new Date().toISOString(),
    },
    enrollment,
  );
}
const inputs: NodeIdentityInputs = {
  berthKind: "node-identity",
  berthProviderVersion: "1",
  nodeId: "web-1",
  serverId: "100",
  channel: { kind: "folder", path: join(dir, "channel") },
  enrollmentSecret: secret,
  timeoutSeconds: 2,
};

describe("NodeIdentity (cloud nodes)", () => {
  const first = keys();
  let olds: NodeIdentityOutputs;

  it("first contact waits past a forged document and takes the node's keys", async () => {
    await channel.put(
      channelKeys.identity("web-1"),
      doc(keys(), enrollmentSecretFor(generateSigningKeyPair().privateKey, "web-1")),
    );
    setTimeout(() => void channel.put(channelKeys.identity("web-1"), doc(first)), 300);
    const got = await firstContact(inputs, 50);
    expect(got).toEqual({ publicKey: first.publicKey, statusKey: first.statusKey });
    olds = { ...inputs, ...got };
    expect(await diff("web-1", olds, inputs)).toEqual({ changes: false, replaces: [] });
  });

  it("times out on forgeries only, saying why", async () => {
    const forger = enrollmentSecretFor(generateSigningKeyPair().privateKey, "web-2");
    await channel.put(channelKeys.identity("web-2"), doc(keys(), forger, "web-2"));
    await expect(firstContact({ ...inputs, nodeId: "web-2", timeoutSeconds: 0.5 }, 50)).rejects.toThrow(
      /did not publish an identity the program accepts .* \(refused: .*does not carry a valid MAC/,
    );
  });

  it("refuses a swapped document at preview: no MAC of the node's secret", async () => {
    await channel.put(
      channelKeys.identity("web-1"),
      doc(keys(), enrollmentSecretFor(generateSigningKeyPair().privateKey, "web-1")),
    );
    await expect(diff("web-1", olds, inputs)).rejects.toThrow(
      /node web-1: refused: .*does not carry a valid MAC.* seals nothing to the one in the channel/,
    );
  });

  it("refuses new keys with the node's MAC until accepted, then takes them", async () => {
    const reset = keys();
    await channel.put(channelKeys.identity("web-1"), doc(reset));
    await expect(diff("web-1", olds, inputs)).rejects.toThrow(
      `pulumi config set --path 'berth:acceptNodeKeys.web-1' ${reset.statusKeyId}`,
    );
    const accepting = { ...inputs, acceptKey: acceptanceIdOf(reset) };
    expect((await diff("web-1", olds, accepting)).changes).toBe(true);
    const out = (await update("web-1", olds, accepting)).outs as NodeIdentityOutputs;
    expect(out).toMatchObject({ publicKey: reset.publicKey, statusKey: reset.statusKey });
  });

  it("a new server is a new node: replaced, keys taken afresh", async () => {
    expect(await diff("web-1", olds, { ...inputs, serverId: "200" })).toMatchObject({
      replaces: ["serverId"],
    });
  });
});

describe("LocalNode's diff", () => {
  const pinned = keys();
  const localSecret = enrollmentSecretFor(program, "local-1");
  const olds = {
    berthKind: "local-node",
    nodeId: "local-1",
    stateRoot: join(dir, "node"),
    channelPath: join(dir, "channel"),
    enrollmentSecret: localSecret,
    pid: process.pid,
    publicKey: pinned.publicKey,
    statusKey: pinned.statusKey,
  } as unknown as LocalNodeOutputs;

  it("refuses a swapped identity, and new keys of a node whose state folder is kept", async () => {
    mkdirSync(join(dir, "node", "keys"), { recursive: true });
    writeFileSync(join(dir, "node", "keys", "node.key"), "kept\n");
    await channel.put(channelKeys.identity("local-1"), doc(keys(), secret, "local-1"));
    await expect(localDiff("local-1", olds, olds)).rejects.toThrow(/node local-1: refused: .*valid MAC/);
    const reset = keys();
    await channel.put(channelKeys.identity("local-1"), doc(reset, localSecret, "local-1"));
    await expect(localDiff("local-1", olds, olds)).rejects.toThrow(/berth:acceptNodeKeys\.local-1/);
  });

  it("takes new keys of a lost node (its agent and its keys folder gone): the update makes it anew", async () => {
    rmSync(join(dir, "node"), { recursive: true, force: true });
    await channel.put(channelKeys.identity("local-1"), doc(keys(), localSecret, "local-1"));
    const lost = { ...olds, pid: 0 };
    expect((await localDiff("local-1", lost, lost)).changes).toBe(true);
  });
});
