// The Workspace provider's check/diff/create/update/delete called directly against a real
// folder channel, and the node's side reading what it published.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { FolderChannelStore } from "../../contract/channel/folder-store";
import { channelKeys } from "../../contract/channel/layout";
import { generateNodeKeyPair, generateSigningKeyPair, TrustedKeys } from "../../contract/payload";
import {
  unsealGitCredential,
  unsealRegistryLogin,
  verifyWorkspace,
  workspaceKeys,
} from "../../contract/workspace/declaration";
import {
  check,
  create,
  diff,
  remove,
  update,
  type WorkspaceInputs,
  type WorkspaceOutputs,
} from "./workspace";

const dir = mkdtempSync(join(tmpdir(), "berth-ws-provider-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const channel = new FolderChannelStore(dir);
const signer = generateSigningKeyPair();
const node = generateNodeKeyPair();

const inputs = (o: Partial<WorkspaceInputs> = {}): WorkspaceInputs => ({
  berthKind: "workspace",
  berthProviderVersion: "1",
  workspaceId: "alice",
  nodeId: "ws-1",
  channel: { kind: "folder", path: dir },
  repository: "https://git.example.com/acme/app.git",
  repositoryName: "acme/app",
  branch: "main",
  defaultBranch: "main",
  trusted: true,
  allowInitializeCommand: false,
  defaultImage: "127.0.0.1:5000/berth/debian:trixie",
  registry: { namespace: "127.0.0.1:5000/team", username: "u", password: "s3cret-pass" },
  gitCredential: { username: "x-access-token", token: "ghs-g1t-t0ken" },
  signingKey: signer.privateKey,
  nodeKeyTimeoutSeconds: 1,
  ...o,
});

describe("Workspace provider", () => {
  it("create waits for the node's key, then publishes a signed declaration the node can read", async () => {
    await expect(create(inputs())).rejects.toThrow(/node ws-1 has not published its key/);
    await channel.put(
      channelKeys.identity("ws-1"),
      JSON.stringify({
        formatVersion: 1,
        nodeId: "ws-1",
        publicKey: node.publicKey,
        agentVersion: "t",
        publishedAt: "x",
      }),
    );
    const { id, outs } = await create(inputs());
    expect(id).toBe("ws-1/alice");
    expect(outs.generation).toBe(1);
    const text = (await channel.get(workspaceKeys.declaration("ws-1", "alice")))!;
    expect(text).not.toContain("s3cret-pass");
    expect(text).not.toContain("ghs-g1t-t0ken");
    const d = verifyWorkspace(text, {
      trustedKeys: new TrustedKeys([signer.publicKey]),
      nodeId: "ws-1",
      workspaceId: "alice",
    });
    expect(unsealRegistryLogin(d, node.privateKey)).toEqual({ username: "u", password: "s3cret-pass" });
    expect(unsealGitCredential(d, node.privateKey)).toEqual({
      username: "x-access-token",
      password: "ghs-g1t-t0ken",
    });
    // A changed token is a change the node must see.
    const newToken = inputs({ gitCredential: { username: "x-access-token", token: "ghs-other" } });
    expect(await diff(id, outs as WorkspaceOutputs, newToken)).toMatchObject({ changes: true });

    const changed = inputs({ branch: "feature/x" });
    expect(await diff(id, outs as WorkspaceOutputs, changed)).toMatchObject({ changes: true, replaces: [] });
    expect(await diff(id, outs as WorkspaceOutputs, inputs())).toMatchObject({ changes: false });
    expect((await diff(id, outs as WorkspaceOutputs, inputs({ nodeId: "ws-2" }))).replaces).toEqual([
      "nodeId",
    ]);
    const up = await update(id, outs as WorkspaceOutputs, changed);
    expect(up.outs?.generation).toBe(2);
    const again = verifyWorkspace((await channel.get(workspaceKeys.declaration("ws-1", "alice")))!, {
      trustedKeys: new TrustedKeys([signer.publicKey]),
      nodeId: "ws-1",
      workspaceId: "alice",
    });
    expect(again.branch).toBe("feature/x");
    expect(again.generation).toBe(2);

    await remove(id, up.outs as WorkspaceOutputs);
    expect(await channel.get(workspaceKeys.declaration("ws-1", "alice"))).toBeUndefined();
  });

  it("check reports a bad branch by its property", async () => {
    const r = await check({}, inputs({ branch: "bad..branch" }));
    expect(r.failures).toEqual([{ property: "branch", reason: "not a valid git branch name" }]);
    expect((await check({}, inputs())).failures).toEqual([]);
  });
});
