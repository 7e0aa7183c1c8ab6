import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FolderChannelStore } from "../../contract/channel/folder-store";
import type { EnvironmentStatus } from "../../contract/channel/status";
import { signStatus } from "../../contract/channel/status-signature";
import { generateSigningKeyPair, keyIdOf } from "../../contract/payload";
import { checkStatusSignature, pinnedStatusKey, statusKeyOf } from "./status-key";

const node = generateSigningKeyPair();
const writer = generateSigningKeyPair();
const status: EnvironmentStatus = {
  formatVersion: 1,
  nodeId: "local-1",
  environmentId: "demo",
  state: "applied",
  appliedSequence: 2,
  services: [],
  updatedAt: "2026-12-06T09:00:00.000Z",
};

/** What `pulumi stack export` prints, reduced to what the check reads. */
const exported = (statusKey: string) => ({
  version: 3,
  deployment: {
    resources: [
      { urn: "urn:pulumi:local::berth::pulumi:pulumi:Stack::berth-local", outputs: {} },
      {
        urn: "urn:pulumi:local::berth::pulumi-nodejs:dynamic:Resource::node",
        outputs: { berthKind: "local-node", nodeId: "local-1", statusKey, publicKey: "x25519:…" },
      },
    ],
  },
});

describe("the status key berth status and berth releases check against", () => {
  it("is the one the stack's state pins for the node (LocalNode or NodeIdentity)", () => {
    expect(pinnedStatusKey(exported(node.publicKey), "local-1")).toBe(node.publicKey);
    expect(pinnedStatusKey(exported(node.publicKey), "web-1")).toBeUndefined();
    expect(pinnedStatusKey(undefined, "local-1")).toBeUndefined();
  });

  it("refuses a status a channel writer signed, naming where the key came from", () => {
    const pinned = { key: node.publicKey, whose: "pinned in stack local's state" };
    expect(checkStatusSignature(signStatus(status, node.privateKey), "local-1", "demo", pinned)).toEqual({
      ok: true,
      detail: `verified with ${keyIdOf(node.publicKey)} (pinned in stack local's state)`,
    });
    const forged = checkStatusSignature(signStatus(status, writer.privateKey), "local-1", "demo", pinned);
    expect(forged.ok).toBe(false);
    expect(forged.detail).toMatch(/pinned in stack local's state/);
  });

  it("without a stack, uses the key the node published, and says a channel writer can replace it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "berth-sk-"));
    const channel = new FolderChannelStore(dir);
    await channel.put("nodes/local-1/identity.json", JSON.stringify({ statusKey: writer.publicKey }));
    const k = await statusKeyOf({ channel: dir }, channel, "local-1");
    expect(k.key).toBe(writer.publicKey);
    expect(k.whose).toMatch(/whoever writes the channel can replace/);
    expect(await statusKeyOf({ channel: dir, "status-key": node.publicKey }, channel, "local-1")).toEqual({
      key: node.publicKey,
      whose: "given with --status-key",
    });
    rmSync(dir, { recursive: true, force: true });
  });
});
