// ReleaseChannel under Pulumi mocks: the local folder, R2 and Scaleway kinds, the agent bundle.
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { generateSigningKeyPair } from "../../contract/payload";
import { type Recorded, setCloudMocks, settle, value } from "../deployment-node/mocks";
import { ReleaseChannel } from "./release-channel";

const ACCOUNT = "0123456789abcdef0123456789abcdef";
const signingKey = generateSigningKeyPair().privateKey;
const program = { accessKeyId: "PROG", secretAccessKey: pulumi.secret("prog-secret") };
let created: Recorded[];
beforeAll(() => {
  created = setCloudMocks();
});
const find = (type: string, name: string) => created.find((r) => r.type === type && r.name === name);

describe("ReleaseChannel", () => {
  it("folder: keeps its local behaviour (one folder resource, file:// url)", async () => {
    const ch = new ReleaseChannel("local", { path: "/tmp/berth-chan" });
    expect(ch.kind).toBe("folder");
    expect(await value(ch.programSpec)).toEqual({ kind: "folder", path: "/tmp/berth-chan" });
    await settle();
    expect(find("pulumi-nodejs:dynamic:Resource", "local-folder")?.inputs).toMatchObject({
      berthKind: "release-channel",
      path: "/tmp/berth-chan",
    });
    expect(() => ch.nodeAccess("n1")).toThrow(/folder channel has no S3 access/);
  });

  it("r2: bucket, per-node credentials, the program's spec (secret) and the signed agent bundle", async () => {
    const ch = new ReleaseChannel("r2", {
      kind: "r2",
      accountId: ACCOUNT,
      bucket: "berth-prod",
      prefix: "prod",
      nodeIds: ["web-1", "web-2"],
      program,
      agentBundle: { signingKey },
    });
    expect(await value(ch.url)).toBe("s3://berth-prod/prod/");
    const spec = ch.programSpec;
    expect(await pulumi.isSecret(spec)).toBe(true);
    expect(await value(spec)).toEqual({
      kind: "s3",
      endpoint: `https://${ACCOUNT}.r2.cloudflarestorage.com`,
      bucket: "berth-prod",
      region: "auto",
      prefix: "prod",
      accessKeyId: "PROG",
      secretAccessKey: "prog-secret",
    });
    const access = ch.nodeAccess("web-2");
    expect(await value(pulumi.output(access).apply((a) => a.bucket))).toBe("berth-prod");
    expect(await pulumi.isSecret(ch.nodeCredentials["web-2"]!.secretAccessKey)).toBe(true);
    expect(() => ch.nodeAccess("web-3")).toThrow(/node web-3 has no credentials for this channel/);
    expect(await value(ch.agentBundle!.urn)).toContain(
      "berth:index:ReleaseChannel$pulumi-nodejs:dynamic:Resource::r2-agent-bundle",
    );
    await settle();
    const bundle = find("pulumi-nodejs:dynamic:Resource", "r2-agent-bundle");
    expect(bundle?.inputs).toMatchObject({
      berthKind: "agent-bundle",
      key: "agent/berth-agent.js",
      channel: { bucket: "berth-prod", prefix: "prod", accessKeyId: "PROG" },
    });
    expect(bundle?.secretInputs).toEqual(expect.arrayContaining(["channel", "signingKey"]));
    expect(
      created
        .filter((r) => r.type === "cloudflare:index/apiToken:ApiToken" && r.name.startsWith("r2-"))
        .map((r) => r.name),
    ).toEqual(["r2-node-web-1", "r2-node-web-2"]);
  });

  it("scaleway: bucket in the region, an IAM key per node, the policy; no bundle unless asked", async () => {
    const ch = new ReleaseChannel("scw", {
      kind: "scaleway",
      bucket: "berth-scw",
      region: "pl-waw",
      projectId: "proj",
      programPrincipal: "user_id:u",
      nodeIds: ["app-1"],
      program,
    });
    expect(ch.agentBundle).toBeUndefined();
    expect(await value(ch.endpoint!)).toBe("https://s3.pl-waw.scw.cloud");
    expect(await value(pulumi.output(ch.nodeAccess("app-1")).apply((a) => a.accessKeyId))).toMatch(/^SCW/);
    await settle();
    expect(find("scaleway:object/bucket:Bucket", "scw-bucket")?.inputs).toMatchObject({
      name: "berth-scw",
      region: "pl-waw",
    });
    expect(find("scaleway:iam/apiKey:ApiKey", "scw-node-app-1-key")).toBeDefined();
  });
});
