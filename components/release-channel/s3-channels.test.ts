import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { type Recorded, setCloudMocks, settle, value } from "../deployment-node/mocks";
import { createR2Channel, createScalewayChannel, r2Endpoint, scalewayChannelPolicy } from "./s3-channels";

const ACCOUNT = "0123456789abcdef0123456789abcdef";
let created: Recorded[];
beforeAll(() => {
  created = setCloudMocks();
});

describe("R2 channel (mocks)", () => {
  it("declares the bucket and a bucket-scoped token per node; S3 credentials derive from the token", async () => {
    const ch = createR2Channel("chan", {
      accountId: ACCOUNT,
      bucketName: "berth-prod",
      nodeIds: ["web-1", "api-1"],
      jurisdiction: "eu",
    });
    expect(await value(ch.endpoint)).toBe(`https://${ACCOUNT}.eu.r2.cloudflarestorage.com`);
    expect(r2Endpoint(ACCOUNT)).toBe(`https://${ACCOUNT}.r2.cloudflarestorage.com`);
    const web = ch.nodeCredentials["web-1"];
    expect(await value(web!.secretAccessKey)).toBe(
      createHash("sha256").update("cf-token-value").digest("hex"),
    );
    expect(await pulumi.isSecret(web!.secretAccessKey)).toBe(true);
    expect(await value(web!.accessKeyId)).toBe(await value(ch.tokens["web-1"]!.id));
    await settle();
    expect(created.find((r) => r.type === "cloudflare:index/r2Bucket:R2Bucket")?.inputs).toMatchObject({
      accountId: ACCOUNT,
      name: "berth-prod",
      jurisdiction: "eu",
    });
    const tokens = created.filter((r) => r.type === "cloudflare:index/apiToken:ApiToken");
    expect(tokens.map((t) => t.name)).toEqual(["chan-node-api-1", "chan-node-web-1"]);
    const policy = (
      (tokens[0]?.inputs.policies ?? []) as { permissionGroups: { id: string }[]; resources: string }[]
    )[0];
    expect(policy?.permissionGroups.map((g) => g.id)).toEqual([
      "pg-workers-r2-storage-bucket-item-read",
      "pg-workers-r2-storage-bucket-item-write",
    ]);
    expect(JSON.parse(policy?.resources ?? "{}")).toEqual({
      [`com.cloudflare.edge.r2.bucket.${ACCOUNT}_eu_berth-prod`]: "*",
    });
  });
});

describe("Scaleway channel", () => {
  it("the bucket policy keeps the program in and each node to its own prefix", () => {
    const p = JSON.parse(
      scalewayChannelPolicy({
        bucket: "b",
        prefix: "prod",
        programPrincipal: "user_id:u-1",
        nodes: [{ nodeId: "n1", applicationId: "app-1" }],
      }),
    );
    expect(p.Version).toBe("2023-04-17");
    expect(p.Statement[0]).toMatchObject({ Principal: { SCW: "user_id:u-1" }, Action: ["s3:*"] });
    const report = p.Statement.find((s: { Sid: string }) => s.Sid === "BerthNodeReport-n1");
    expect(report.Resource).toEqual(["b/prod/nodes/n1/identity.json", "b/prod/nodes/n1/status/*"]);
    const read = p.Statement.find((s: { Sid: string }) => s.Sid === "BerthNodeRead-n1");
    expect(read).toMatchObject({ Principal: { SCW: "application_id:app-1" }, Action: ["s3:GetObject"] });
  });

  it("a node group's nodes read swarm/<group>/ and only its leader writes the join offers", () => {
    const nodes = ["w1", "w2", "w3", "other"].map((nodeId) => ({ nodeId, applicationId: `app-${nodeId}` }));
    const p = JSON.parse(
      scalewayChannelPolicy({
        bucket: "b",
        prefix: "",
        programPrincipal: "user_id:u-1",
        nodes,
        groups: [{ name: "web", nodes: ["w3", "w1", "w2"], leader: "w1" }],
      }),
    );
    const read = p.Statement.find((s: { Sid: string }) => s.Sid === "BerthGroupRead-web");
    expect(read).toEqual({
      Sid: "BerthGroupRead-web",
      Effect: "Allow",
      Principal: { SCW: ["application_id:app-w1", "application_id:app-w2", "application_id:app-w3"] },
      Action: ["s3:GetObject"],
      Resource: ["b/swarm/web/*"],
    });
    const join = p.Statement.find((s: { Sid: string }) => s.Sid === "BerthGroupJoin-web");
    expect(join).toMatchObject({
      Principal: { SCW: "application_id:app-w1" },
      Action: ["s3:PutObject", "s3:DeleteObject"],
      Resource: [
        "b/swarm/web/join/*",
        "b/swarm/web/routes/*",
        "b/swarm/web/backups/*",
        "b/swarm/web/volumes/*",
        "b/swarm/web/holds/*",
      ],
    });
    // The leader reads its members' signed statuses (a holder's word, its restore requests).
    expect(p.Statement.find((s: { Sid: string }) => s.Sid === "BerthGroupStatuses-web")).toEqual({
      Sid: "BerthGroupStatuses-web",
      Effect: "Allow",
      Principal: { SCW: "application_id:app-w1" },
      Action: ["s3:GetObject"],
      Resource: ["b/nodes/w1/status/*", "b/nodes/w2/status/*", "b/nodes/w3/status/*"],
    });
    // Nothing else grants a write under swarm/, and a node outside the group reads none of it.
    const writes = p.Statement.filter(
      (s: { Action: string[]; Resource: string[] }) =>
        s.Action.includes("s3:PutObject") && s.Resource.some((r) => r.includes("/swarm/")),
    );
    expect(writes.map((s: { Sid: string }) => s.Sid)).toEqual(["BerthGroupJoin-web"]);
    expect(JSON.stringify(read)).not.toContain("app-other");
    expect(() =>
      scalewayChannelPolicy({
        bucket: "b",
        prefix: "",
        programPrincipal: "user_id:u-1",
        nodes,
        groups: [{ name: "web", nodes: ["w1", "ghost"], leader: "w1" }],
      }),
    ).toThrow(/node group web: node ghost has no channel credentials/);
  });

  it("declares the bucket, an IAM application and key per node, and the policy (mocks)", async () => {
    const ch = createScalewayChannel("sc", {
      bucketName: "berth-chan",
      region: "fr-par",
      projectId: "proj",
      programPrincipal: "application_id:prog",
      nodeIds: ["n1"],
    });
    expect(await value(ch.endpoint)).toBe("https://s3.fr-par.scw.cloud");
    expect(await pulumi.isSecret(ch.nodeCredentials.n1!.secretAccessKey)).toBe(true);
    await value(ch.policy.id);
    await settle();
    const pol = created.find((r) => r.type === "scaleway:object/bucketPolicy:BucketPolicy");
    const doc = JSON.parse(String(pol?.inputs.policy));
    expect(doc.Statement.map((s: { Sid: string }) => s.Sid)).toEqual([
      "BerthProgram",
      "BerthNodeList-n1",
      "BerthNodeRead-n1",
      "BerthNodeReport-n1",
    ]);
    expect(created.find((r) => r.type === "scaleway:object/bucket:Bucket")?.inputs).toMatchObject({
      name: "berth-chan",
      region: "fr-par",
    });
  });
});
