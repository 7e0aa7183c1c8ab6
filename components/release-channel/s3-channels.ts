// The release channel on an S3-compatible bucket for cloud stacks: Cloudflare R2 or Scaleway
// Object Storage. The program writes releases with its own credentials (from config secrets);
// each node gets credentials of its own, as narrow as the provider allows:
//
// - R2: API tokens are scoped to a bucket, not to a key prefix. A node's token has "Workers R2
//   Storage Bucket Item Read" + "... Item Write" on the channel bucket only (it must write its
//   identity and status). So an R2 node can technically write any key of that bucket: it cannot
//   forge a release (no signing key) and replays are refused by sequence, but it could delete
//   another node's desired pointer. Where that matters, give each node a channel bucket of its own.
//   R2's S3 credentials derive from the token: access key = token id, secret = SHA-256(token value).
// - Scaleway: a bucket policy (version 2023-04-17, only what it allows is allowed) grants the
//   program's principal everything and each node's IAM application: ListBucket on the bucket,
//   GetObject under nodes/<node>/, PutObject only on nodes/<node>/identity.json and
//   nodes/<node>/status/*. Listing is not restricted by prefix (key names of other nodes are
//   visible, their contents are not). The program's principal MUST be listed, or the program
//   locks itself out of the bucket (Scaleway's warning). A node group's nodes (issue 23) also read
//   swarm/<group>/ (the signed membership, their join offers), and only its leader writes there,
//   under join/, routes/, backups/, volumes/ and holds/ (docs/swarm.md), and reads its members'
//   signed statuses (nodes/<member>/status/*: a holder's word that its volumes are ready, its
//   restore requests). On R2 the node tokens are bucket-wide anyway.
import { createHash } from "node:crypto";
import type * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import type * as scaleway from "@pulumiverse/scaleway";
import { cloudflareSdk, scalewaySdk } from "../cloud-sdks";

export interface S3ChannelLocation {
  endpoint: pulumi.Output<string>;
  bucket: pulumi.Output<string>;
  region: string;
  prefix: string;
}

export interface NodeChannelCredentials {
  accessKeyId: pulumi.Output<string>;
  /** Secret. */
  secretAccessKey: pulumi.Output<string>;
}

export interface S3Channel extends S3ChannelLocation {
  /** Per node id. */
  nodeCredentials: Record<string, NodeChannelCredentials>;
}

const R2_ITEM_READ = "Workers R2 Storage Bucket Item Read";
const R2_ITEM_WRITE = "Workers R2 Storage Bucket Item Write";

export interface R2ChannelArgs {
  accountId: string;
  bucketName: string;
  /** Hint for R2: apac, eeur, enam, weur, wnam, oc. */
  location?: string;
  /** default or eu (also picks the endpoint). */
  jurisdiction?: "default" | "eu";
  prefix?: string;
  nodeIds: readonly string[];
}

export function r2Endpoint(accountId: string, jurisdiction: "default" | "eu" = "default"): string {
  return `https://${accountId}.${jurisdiction === "eu" ? "eu." : ""}r2.cloudflarestorage.com`;
}

function permissionGroupId(name: string, parent?: pulumi.Resource): pulumi.Output<string> {
  return cloudflareSdk()
    .getApiTokenPermissionGroupsListOutput({ name }, { parent })
    .apply((r) => {
      const g = r.results.find((x) => x.name === name);
      if (!g) throw new Error(`Cloudflare has no API token permission group named "${name}"`);
      return g.id;
    });
}

export function createR2Channel(
  name: string,
  args: R2ChannelArgs,
  parent?: pulumi.Resource,
): S3Channel & { r2Bucket: cloudflare.R2Bucket; tokens: Record<string, cloudflare.ApiToken> } {
  const jurisdiction = args.jurisdiction ?? "default";
  const r2Bucket = new (cloudflareSdk().R2Bucket)(
    `${name}-bucket`,
    {
      accountId: args.accountId,
      name: args.bucketName,
      jurisdiction,
      ...(args.location ? { location: args.location } : {}),
    },
    { parent },
  );
  const read = permissionGroupId(R2_ITEM_READ, parent);
  const write = permissionGroupId(R2_ITEM_WRITE, parent);
  const resource = pulumi.interpolate`com.cloudflare.edge.r2.bucket.${args.accountId}_${jurisdiction}_${r2Bucket.name}`;
  const tokens: Record<string, cloudflare.ApiToken> = {};
  const nodeCredentials: Record<string, NodeChannelCredentials> = {};
  for (const nodeId of [...args.nodeIds].sort()) {
    const token = new (cloudflareSdk().ApiToken)(
      `${name}-node-${nodeId}`,
      {
        name: `berth channel ${args.bucketName} node ${nodeId}`,
        policies: [
          {
            effect: "allow",
            permissionGroups: [{ id: read }, { id: write }],
            resources: resource.apply((r) => JSON.stringify({ [r]: "*" })),
          },
        ],
      },
      { parent, additionalSecretOutputs: ["value"] },
    );
    tokens[nodeId] = token;
    nodeCredentials[nodeId] = {
      accessKeyId: token.id,
      secretAccessKey: pulumi.secret(token.value.apply((v) => createHash("sha256").update(v).digest("hex"))),
    };
  }
  return {
    r2Bucket,
    tokens,
    endpoint: pulumi.output(r2Endpoint(args.accountId, jurisdiction)),
    bucket: r2Bucket.name,
    region: "auto",
    prefix: args.prefix ?? "",
    nodeCredentials,
  };
}

export interface ScalewayChannelArgs {
  bucketName: string;
  region: "fr-par" | "nl-ams" | "pl-waw";
  projectId: pulumi.Input<string>;
  /** Who runs `pulumi up`: "application_id:<uuid>" or "user_id:<uuid>" (kept in the bucket policy). */
  programPrincipal: pulumi.Input<string>;
  prefix?: string;
  nodeIds: readonly string[];
  /** Node groups: their members read swarm/<group>/, the leader writes its join offers. */
  groups?: readonly { name: string; nodes: readonly string[]; leader: string }[];
}

/** The Scaleway bucket policy of a channel (pure). */
export function scalewayChannelPolicy(o: {
  bucket: string;
  prefix: string;
  programPrincipal: string;
  nodes: { nodeId: string; applicationId: string }[];
  /** Node groups (berth:nodeGroups): their members read swarm/<group>/, the leader writes its join/. */
  groups?: readonly { name: string; nodes: readonly string[]; leader: string }[];
}): string {
  const p = o.prefix.replace(/^\/+|\/+$/g, "");
  const root = p ? `${o.bucket}/${p}` : o.bucket;
  const statements: unknown[] = [
    {
      Sid: "BerthProgram",
      Effect: "Allow",
      Principal: { SCW: o.programPrincipal },
      Action: ["s3:*"],
      Resource: [o.bucket, `${o.bucket}/*`],
    },
  ];
  for (const n of [...o.nodes].sort((a, b) => a.nodeId.localeCompare(b.nodeId))) {
    const principal = { SCW: `application_id:${n.applicationId}` };
    statements.push(
      {
        Sid: `BerthNodeList-${n.nodeId}`,
        Effect: "Allow",
        Principal: principal,
        Action: ["s3:ListBucket"],
        Resource: [o.bucket],
      },
      {
        Sid: `BerthNodeRead-${n.nodeId}`,
        Effect: "Allow",
        Principal: principal,
        Action: ["s3:GetObject"],
        Resource: [`${root}/nodes/${n.nodeId}/*`, `${root}/agent/*`],
      },
      {
        Sid: `BerthNodeReport-${n.nodeId}`,
        Effect: "Allow",
        Principal: principal,
        Action: ["s3:PutObject", "s3:DeleteObject"],
        Resource: [`${root}/nodes/${n.nodeId}/identity.json`, `${root}/nodes/${n.nodeId}/status/*`],
      },
    );
  }
  const app = new Map(o.nodes.map((n) => [n.nodeId, n.applicationId]));
  const principalOf = (nodeId: string, group: string) => {
    const id = app.get(nodeId);
    if (id === undefined) throw new Error(`node group ${group}: node ${nodeId} has no channel credentials`);
    return `application_id:${id}`;
  };
  for (const g of [...(o.groups ?? [])].sort((a, b) => a.name.localeCompare(b.name))) {
    statements.push(
      {
        Sid: `BerthGroupRead-${g.name}`,
        Effect: "Allow",
        Principal: { SCW: [...g.nodes].sort().map((n) => principalOf(n, g.name)) },
        Action: ["s3:GetObject"],
        Resource: [`${root}/swarm/${g.name}/*`],
      },
      {
        Sid: `BerthGroupJoin-${g.name}`,
        Effect: "Allow",
        Principal: { SCW: principalOf(g.leader, g.name) },
        Action: ["s3:PutObject", "s3:DeleteObject"],
        Resource: ["join", "routes", "backups", "volumes", "holds"].map(
          (d) => `${root}/swarm/${g.name}/${d}/*`,
        ),
      },
      {
        Sid: `BerthGroupStatuses-${g.name}`,
        Effect: "Allow",
        Principal: { SCW: principalOf(g.leader, g.name) },
        Action: ["s3:GetObject"],
        Resource: [...g.nodes].sort().map((n) => `${root}/nodes/${n}/status/*`),
      },
    );
  }
  return JSON.stringify({ Version: "2023-04-17", Id: `berth-channel-${o.bucket}`, Statement: statements });
}

export function createScalewayChannel(
  name: string,
  args: ScalewayChannelArgs,
  parent?: pulumi.Resource,
): S3Channel & { objectBucket: scaleway.object.Bucket; policy: scaleway.object.BucketPolicy } {
  const objectBucket = new (scalewaySdk().object.Bucket)(
    `${name}-bucket`,
    { name: args.bucketName, region: args.region, projectId: args.projectId, versioning: { enabled: false } },
    { parent },
  );
  const nodeCredentials: Record<string, NodeChannelCredentials> = {};
  const apps: pulumi.Output<{ nodeId: string; applicationId: string }>[] = [];
  for (const nodeId of [...args.nodeIds].sort()) {
    const app = new (scalewaySdk().iam.Application)(
      `${name}-node-${nodeId}`,
      {
        name: `berth-channel-${args.bucketName}-${nodeId}`,
        description: `berth: node ${nodeId} reads its channel`,
      },
      { parent },
    );
    const key = new (scalewaySdk().iam.ApiKey)(
      `${name}-node-${nodeId}-key`,
      {
        applicationId: app.id,
        description: `berth channel node ${nodeId}`,
        defaultProjectId: args.projectId,
      },
      { parent, additionalSecretOutputs: ["secretKey"] },
    );
    nodeCredentials[nodeId] = { accessKeyId: key.accessKey, secretAccessKey: pulumi.secret(key.secretKey) };
    apps.push(app.id.apply((applicationId) => ({ nodeId, applicationId })));
  }
  const policy = new (scalewaySdk().object.BucketPolicy)(
    `${name}-policy`,
    {
      bucket: objectBucket.name,
      region: args.region,
      projectId: args.projectId,
      policy: pulumi
        .all([objectBucket.name, pulumi.output(args.programPrincipal), pulumi.all(apps)])
        .apply(([bucket, programPrincipal, nodes]) =>
          scalewayChannelPolicy({
            bucket,
            prefix: args.prefix ?? "",
            programPrincipal,
            nodes,
            ...(args.groups ? { groups: args.groups } : {}),
          }),
        ),
    },
    { parent },
  );
  return {
    objectBucket,
    policy,
    endpoint: pulumi.output(`https://s3.${args.region}.scw.cloud`),
    bucket: objectBucket.name,
    region: args.region,
    prefix: args.prefix ?? "",
    nodeCredentials,
  };
}
