// Workspace under Pulumi mocks: argument checks, and the declaration resource's inputs (secrets
// wrapped, defaults filled in, the repository's name derived).
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { type Recorded, setCloudMocks, settle, value } from "../deployment-node/mocks";
import { repositoryNameOf, WorkspaceArgsError } from "./args";
import { Workspace, type WorkspaceArgs } from "./workspace";

let created: Recorded[];
beforeAll(() => {
  created = setCloudMocks();
});
const find = (name: string) =>
  created.find((r) => r.type === "pulumi-nodejs:dynamic:Resource" && r.name === name);

const base = (o: Partial<WorkspaceArgs> = {}): WorkspaceArgs => ({
  node: { nodeId: "ws-1", role: "workspace" },
  channel: { kind: "folder", path: "/tmp/berth-channel" },
  repository: "https://git.example.com/acme/app.git",
  defaultImage: "127.0.0.1:5000/berth/debian:trixie",
  signingKey: pulumi.secret("signing-key"),
  ...o,
});

describe("Workspace", () => {
  it("publishes a declaration with defaults filled in and every secret kept secret", async () => {
    const ws = new Workspace("alice", {
      ...base(),
      branch: "feature/login",
      devcontainerConfig: "python",
      registry: { namespace: "ghcr.io/acme/dev", username: "bot", password: pulumi.secret("hunter22") },
      gitCredential: { token: pulumi.secret("ghs_token") },
    });
    expect(ws.workspaceId).toBe("alice");
    expect(await value(ws.nodeId)).toBe("ws-1");
    await settle();
    const r = find("alice-declaration");
    expect(r?.inputs).toMatchObject({
      berthKind: "workspace",
      workspaceId: "alice",
      nodeId: "ws-1",
      repository: "https://git.example.com/acme/app.git",
      repositoryName: "acme/app",
      branch: "feature/login",
      defaultBranch: "main",
      config: "python",
      trusted: false,
      allowInitializeCommand: false,
      nodeKeyTimeoutSeconds: 300,
      registry: { namespace: "ghcr.io/acme/dev", username: "bot", password: "hunter22" },
      gitCredential: { username: "x-access-token", token: "ghs_token" },
    });
    expect(r?.secretInputs.sort()).toEqual(["channel", "gitCredential", "registry", "signingKey"]);
  });

  it("carries lifecycle and backup (its own repository, defaults, credentials secret)", async () => {
    new Workspace("carol", {
      ...base(),
      lifecycle: { idleTimeoutSeconds: 600, followSeconds: 0 },
      backup: {
        target: { endpoint: "https://s3.example.com", bucket: "dev-backups", prefix: "b" },
        password: pulumi.secret("restic-pw"),
        accessKeyId: "AK",
        secretAccessKey: pulumi.secret("SK"),
      },
    });
    await settle();
    const r = find("carol-declaration");
    expect(r?.inputs).toMatchObject({
      lifecycle: { idleTimeoutSeconds: 600, followSeconds: 0 },
      backup: {
        settings: {
          repository: "s3:https://s3.example.com/dev-backups/b/workspaces/carol",
          region: "auto",
          schedule: "0 3 * * *",
          restoreOnFirstStart: true,
        },
        credentials: { password: "restic-pw", accessKeyId: "AK", secretAccessKey: "SK" },
      },
    });
    expect(r?.secretInputs).toContain("backup");
    expect(
      () =>
        new Workspace("dave", {
          ...base(),
          backup: {
            target: { endpoint: "s3.example.com", bucket: "b" },
            password: "",
            accessKeyId: "",
            secretAccessKey: "",
          },
        }),
    ).toThrow(/Workspace dave: backup\.target\.endpoint: must be an http\(s\) URL/);
  });

  it("takes its node from a DeploymentNode-like object and its id from workspaceId", async () => {
    new Workspace("w2", {
      ...base(),
      node: { nodeId: pulumi.output("dev-box"), provider: "local" },
      workspaceId: "bob",
    });
    await settle();
    expect(find("w2-declaration")?.inputs).toMatchObject({ nodeId: "dev-box", workspaceId: "bob" });
  });

  it("refuses bad arguments before declaring anything, naming the workspace and the argument", () => {
    const before = created.length;
    expect(() => new Workspace("Bad Name", base())).toThrow(
      /Workspace Bad Name: workspaceId: use 1-63 lowercase/,
    );
    expect(() => new Workspace("w3", base({ branch: "a..b" }))).toThrow(
      /Workspace w3: branch: not a valid git branch name \(got "a..b"\)/,
    );
    expect(() => new Workspace("w4", base({ repository: "not a url" }))).toThrow(/repository: a git URL/);
    expect(() => new Workspace("w5", base({ devcontainerConfig: "../x" }))).toThrow(
      /devcontainerConfig: the name of a folder/,
    );
    expect(() => new Workspace("w6", base({ node: { nodeId: "web-1", role: "deployment" } }))).toThrow(
      /Workspace w6: node: the node has role "deployment"; workspaces run on nodes of role "workspace"/,
    );
    expect(() => new Workspace("w7", base({ defaultImage: "" }))).toThrow(WorkspaceArgsError);
    expect(created.length).toBe(before);
  });

  it("derives image names from repository URLs", () => {
    expect(repositoryNameOf("git@github.com:acme/app.git")).toBe("acme/app");
    expect(repositoryNameOf("https://git.example.com/acme/app/")).toBe("acme/app");
    expect(repositoryNameOf("/srv/repos/app")).toBe("repos/app");
  });
});
