import { describe, expect, it } from "vitest";
import { generateNodeKeyPair, generateSigningKeyPair, TrustedKeys } from "../payload";
import {
  checkDeclaration,
  sealRegistryLogin,
  signWorkspace,
  unsealRegistryLogin,
  verifyWorkspace,
  type WorkspaceDeclaration,
  WorkspaceDeclarationError,
  workspaceKeys,
  workspacesFromKeys,
} from "./declaration";

const signer = generateSigningKeyPair();
const node = generateNodeKeyPair();

function declaration(o: Partial<WorkspaceDeclaration> = {}): WorkspaceDeclaration {
  const base: WorkspaceDeclaration = {
    formatVersion: 1,
    workspaceId: "alice",
    nodeId: "ws-1",
    generation: 3,
    repository: "https://git.example.com/acme/app.git",
    repositoryName: "acme/app",
    branch: "feature/x",
    defaultBranch: "main",
    trusted: true,
    allowInitializeCommand: false,
    defaultImage: "127.0.0.1:5000/berth/debian:trixie",
    ...o,
  };
  return base;
}

describe("workspace declarations", () => {
  it("round-trips signed, with the registry login sealed to the node", () => {
    const d = declaration();
    const credentials = sealRegistryLogin(d, { username: "u", password: "p4ssword" }, node.publicKey);
    const text = signWorkspace(
      { ...d, registry: { namespace: "127.0.0.1:5000/team", credentials } },
      signer.privateKey,
    );
    expect(text).not.toContain("p4ssword");
    const back = verifyWorkspace(text, {
      trustedKeys: new TrustedKeys([signer.publicKey]),
      nodeId: "ws-1",
      workspaceId: "alice",
    });
    expect(back.branch).toBe("feature/x");
    expect(unsealRegistryLogin(back, node.privateKey)).toEqual({ username: "u", password: "p4ssword" });
  });

  it("refuses an altered declaration, an untrusted key, another node and a box moved to another workspace", () => {
    const trustedKeys = new TrustedKeys([signer.publicKey]);
    const text = signWorkspace(declaration(), signer.privateKey);
    const altered = text.replace('"trusted":true', '"trusted":false');
    expect(() => verifyWorkspace(altered, { trustedKeys, nodeId: "ws-1", workspaceId: "alice" })).toThrow(
      /signature does not verify/,
    );
    const other = generateSigningKeyPair();
    expect(() =>
      verifyWorkspace(text, {
        trustedKeys: new TrustedKeys([other.publicKey]),
        nodeId: "ws-1",
        workspaceId: "alice",
      }),
    ).toThrow(/does not trust/);
    expect(() => verifyWorkspace(text, { trustedKeys, nodeId: "ws-2", workspaceId: "alice" })).toThrow(
      /for node ws-1/,
    );
    const box = sealRegistryLogin(declaration(), { username: "u", password: "p" }, node.publicKey);
    const moved = declaration({
      workspaceId: "bob",
      registry: { namespace: "r.example/x", credentials: box },
    });
    expect(() => unsealRegistryLogin(moved, node.privateKey)).toThrow();
  });

  it("says what is wrong with a bad declaration", () => {
    expect(() => checkDeclaration({ ...declaration(), branch: "bad..branch" })).toThrow(
      WorkspaceDeclarationError,
    );
    expect(() => checkDeclaration({ ...declaration(), branch: "bad..branch" })).toThrow(
      /branch: not a valid git branch name/,
    );
    expect(() => checkDeclaration({ ...declaration(), workspaceId: "Alice" })).toThrow(/workspaceId/);
  });

  it("lists the workspaces a node has declarations for", () => {
    const keys = [
      workspaceKeys.declaration("ws-1", "alice"),
      workspaceKeys.declaration("ws-1", "bob"),
      workspaceKeys.declaration("ws-2", "carol"),
      "nodes/ws-1/workspaces/Bad.json",
      "nodes/ws-1/environments/x/desired.json",
    ];
    expect(workspacesFromKeys("ws-1", keys)).toEqual(["alice", "bob"]);
    expect(workspaceKeys.status("ws-1", "alice")).toBe("nodes/ws-1/status/workspaces/alice.json");
  });
});
