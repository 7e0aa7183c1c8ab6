// Where releases are published and nodes report their status: a folder for the local target, an
// S3-compatible bucket for cloud stacks (Cloudflare R2 or Scaleway Object Storage: s3-channels.ts
// declares the bucket and each node's read credentials). With `agentBundle`, the signed agent
// bundle is published to a cloud channel for the installer in the nodes' user data.
import * as pulumi from "@pulumi/pulumi";
import type { ChannelSpec, S3ChannelAccess } from "../../contract/channel/access";
import type { DeepInput } from "../deployment-node/hcloud-node";
import { AgentBundle } from "./agent-bundle";
import { LOCAL_FOLDER_PROVIDER_VERSION, localFolderProvider } from "./local-folder-provider";
import { createR2Channel, createScalewayChannel, type NodeChannelCredentials } from "./s3-channels";
import { StargzTools, type StargzToolsArgs } from "./stargz-tools";
import { TrustSet, type TrustSetArgs } from "./trust-set";

/** The lazy-pulling tools for the stack's workspace nodes (see stargz-tools.ts). */
export type ChannelStargzToolsArgs = Omit<StargzToolsArgs, "channel">;

/** The stack's signed trust set, published as a child of the channel (see trust-set.ts). */
export type ChannelTrustSetArgs = Omit<TrustSetArgs, "channel">;

/** The program's own credentials for a bucket channel (from config secrets). */
export interface ProgramChannelCredentials {
  accessKeyId: pulumi.Input<string>;
  secretAccessKey: pulumi.Input<string>;
}

interface BucketChannelCommon {
  /** The bucket's name (created by the component). */
  bucket: string;
  /** Keys live under this prefix ("" = the bucket's root). */
  prefix?: string;
  /** Each gets read credentials of its own (nodeCredentials, nodeAccess). */
  nodeIds: readonly string[];
  /**
   * Node groups (berth:nodeGroups; issue 23): on Scaleway their members may read swarm/<group>/
   * and the leader (the first manager) write its join offers. R2's node tokens are bucket-wide.
   */
  nodeGroups?: readonly { name: string; nodes: readonly string[]; leader: string }[];
  program: ProgramChannelCredentials;
  /** Publish the signed agent bundle (needed by nodes installed with `agent: { kind: "channel" }`). */
  agentBundle?: { signingKey: pulumi.Input<string>; bundlePath?: string; key?: string };
  trustSet?: ChannelTrustSetArgs;
  /** Publish the signed stargz tools (lazy pulling on workspace nodes). */
  stargzTools?: ChannelStargzToolsArgs;
}

export interface FolderChannelArgs {
  kind?: "folder";
  /** local: an absolute folder path. */
  path: pulumi.Input<string>;
  /** Publish the signed agent bundle and its manifest (running agents upgrade from it). */
  agentBundle?: { signingKey: pulumi.Input<string>; bundlePath?: string; key?: string };
  trustSet?: ChannelTrustSetArgs;
  stargzTools?: ChannelStargzToolsArgs;
}

export type ReleaseChannelArgs =
  | FolderChannelArgs
  | (BucketChannelCommon & {
      kind: "r2";
      /** Cloudflare account id (32 hex characters). */
      accountId: string;
      jurisdiction?: "default" | "eu";
      /** R2 location hint: apac, eeur, enam, weur, wnam, oc. */
      location?: string;
    })
  | (BucketChannelCommon & {
      kind: "scaleway";
      region: "fr-par" | "nl-ams" | "pl-waw";
      projectId: pulumi.Input<string>;
      /** Who runs `pulumi up` ("application_id:<uuid>" or "user_id:<uuid>"), kept in the bucket policy. */
      programPrincipal: pulumi.Input<string>;
    });

const isFolder = (a: ReleaseChannelArgs): a is FolderChannelArgs =>
  a.kind === undefined || a.kind === "folder";

class LocalChannelFolder extends pulumi.dynamic.Resource {
  declare readonly url: pulumi.Output<string>;

  constructor(name: string, path: pulumi.Input<string>, opts?: pulumi.CustomResourceOptions) {
    super(
      localFolderProvider,
      name,
      {
        path,
        berthKind: "release-channel",
        berthProviderVersion: LOCAL_FOLDER_PROVIDER_VERSION,
        url: undefined,
      },
      opts,
    );
  }
}

export class ReleaseChannel extends pulumi.ComponentResource {
  readonly kind: "folder" | "r2" | "scaleway";
  /** file://<path> or s3://<bucket>/<prefix> */
  readonly url: pulumi.Output<string>;
  /** What the program publishes with (Release, AgentBundle); secret for a bucket. */
  readonly programSpec: pulumi.Output<ChannelSpec>;
  /** Bucket channels: the S3 endpoint, bucket and region nodes read from. */
  readonly endpoint?: pulumi.Output<string>;
  readonly bucket?: pulumi.Output<string>;
  readonly region?: string;
  readonly prefix?: string;
  /** Bucket channels: per node id, its read credentials (the secret key a secret Output). */
  readonly nodeCredentials: Record<string, NodeChannelCredentials> = {};
  readonly agentBundle?: AgentBundle;
  readonly trustSet?: TrustSet;
  readonly stargzTools?: StargzTools;

  constructor(name: string, args: ReleaseChannelArgs, opts?: pulumi.ComponentResourceOptions) {
    super("berth:index:ReleaseChannel", name, {}, opts);
    if (isFolder(args)) {
      const folder = new LocalChannelFolder(`${name}-folder`, args.path, { parent: this });
      this.kind = "folder";
      this.url = folder.url;
      this.programSpec = pulumi.output(args.path).apply((path) => ({ kind: "folder" as const, path }));
      this.trustSet = this.publishTrustSet(name, args.trustSet, [folder]);
      if (args.agentBundle) {
        this.agentBundle = new AgentBundle(
          `${name}-agent-bundle`,
          {
            channel: this.programSpec,
            signingKey: args.agentBundle.signingKey,
            ...(args.agentBundle.bundlePath ? { bundlePath: args.agentBundle.bundlePath } : {}),
            ...(args.agentBundle.key ? { key: args.agentBundle.key } : {}),
          },
          { parent: this, dependsOn: [folder, ...(this.trustSet ? [this.trustSet] : [])] },
        );
      }
      this.stargzTools = this.publishStargzTools(name, args.stargzTools, [folder]);
      this.registerOutputs({ url: this.url });
      return;
    }
    this.kind = args.kind;
    const common = { bucketName: args.bucket, prefix: args.prefix ?? "", nodeIds: args.nodeIds };
    const s3 =
      args.kind === "r2"
        ? createR2Channel(
            name,
            {
              ...common,
              accountId: args.accountId,
              ...(args.jurisdiction ? { jurisdiction: args.jurisdiction } : {}),
              ...(args.location ? { location: args.location } : {}),
            },
            this,
          )
        : createScalewayChannel(
            name,
            {
              ...common,
              region: args.region,
              projectId: args.projectId,
              programPrincipal: args.programPrincipal,
              ...(args.nodeGroups?.length ? { groups: args.nodeGroups } : {}),
            },
            this,
          );
    this.endpoint = s3.endpoint;
    this.bucket = s3.bucket;
    this.region = s3.region;
    this.prefix = s3.prefix;
    this.nodeCredentials = s3.nodeCredentials;
    const prefix = s3.prefix.replace(/^\/+|\/+$/g, "");
    this.url = pulumi.interpolate`s3://${s3.bucket}/${prefix ? `${prefix}/` : ""}`;
    this.programSpec = pulumi.secret(
      pulumi.all([s3.endpoint, s3.bucket, args.program.accessKeyId, args.program.secretAccessKey]).apply(
        ([endpoint, bucket, accessKeyId, secretAccessKey]): ChannelSpec => ({
          kind: "s3",
          endpoint,
          bucket,
          region: s3.region,
          prefix: s3.prefix,
          accessKeyId,
          secretAccessKey,
        }),
      ),
    );
    // After the bucket (and, on Scaleway, the policy that lets the program write).
    const after: pulumi.Resource[] = "r2Bucket" in s3 ? [s3.r2Bucket] : [s3.objectBucket, s3.policy];
    this.trustSet = this.publishTrustSet(name, args.trustSet, after);
    if (args.agentBundle) {
      this.agentBundle = new AgentBundle(
        `${name}-agent-bundle`,
        {
          channel: this.programSpec,
          signingKey: args.agentBundle.signingKey,
          ...(args.agentBundle.bundlePath ? { bundlePath: args.agentBundle.bundlePath } : {}),
          ...(args.agentBundle.key ? { key: args.agentBundle.key } : {}),
        },
        // A bundle signed by a new release key goes out after the trust set that names it.
        { parent: this, dependsOn: [...after, ...(this.trustSet ? [this.trustSet] : [])] },
      );
    }
    this.stargzTools = this.publishStargzTools(name, args.stargzTools, after);
    this.registerOutputs({
      url: this.url,
      endpoint: this.endpoint,
      bucket: this.bucket,
      nodeCredentials: this.nodeCredentials,
    });
  }

  private publishStargzTools(
    name: string,
    args: ChannelStargzToolsArgs | undefined,
    after: pulumi.Resource[],
  ): StargzTools | undefined {
    if (!args || args.arches.length === 0) return undefined;
    // A manifest signed by a new release key goes out after the trust set that names it.
    return new StargzTools(
      `${name}-stargz-tools`,
      { ...args, channel: this.programSpec },
      { parent: this, dependsOn: [...after, ...(this.trustSet ? [this.trustSet] : [])] },
    );
  }

  private publishTrustSet(
    name: string,
    args: ChannelTrustSetArgs | undefined,
    after: pulumi.Resource[],
  ): TrustSet | undefined {
    if (!args) return undefined;
    return new TrustSet(
      `${name}-trust-set`,
      { ...args, channel: this.programSpec },
      { parent: this, dependsOn: after },
    );
  }

  /** What a node's user data needs to read this channel (cloud-init's `channel`). */
  nodeAccess(nodeId: string): DeepInput<S3ChannelAccess> {
    const creds = this.nodeCredentials[nodeId];
    if (!this.endpoint || !this.bucket || !creds) {
      throw new Error(
        this.kind === "folder"
          ? "a folder channel has no S3 access for nodes (cloud nodes need an r2 or scaleway channel)"
          : `node ${nodeId} has no credentials for this channel: list it in the channel's nodeIds`,
      );
    }
    return {
      endpoint: this.endpoint,
      bucket: this.bucket,
      region: this.region ?? "auto",
      prefix: this.prefix ?? "",
      accessKeyId: creds.accessKeyId,
      secretAccessKey: creds.secretAccessKey,
    };
  }
}
