import * as pulumi from "@pulumi/pulumi";
import type { AccessPolicyInput } from "../../contract/access/schema";
import type { EnvironmentBackupInput } from "../../contract/backup/schema";
import type { ChannelSpec } from "../../contract/channel/access";
import type { NodeKeys } from "../../contract/channel/node-identity";
import type { RegistryAccess } from "../runtime/release";
import { RuntimeResource } from "../runtime-resource";
import type { ReleaseSummary } from "./summary";

export const RELEASE_PROVIDER_VERSION = "3";

export interface ReleaseArgs {
  environmentId: string;
  nodeId: pulumi.Input<string>;
  /**
   * The node's keys from the node resource (taken on first contact, kept in the state): a new
   * key (a replaced node) means a new release sealed to it.
   */
  nodeKeys: pulumi.Input<NodeKeys>;
  channel: pulumi.Input<ChannelSpec>;
  composeFile: string;
  composeText: string;
  projectDir: string;
  variables: Record<string, string>;
  /** The active Compose profiles (absent: none). */
  profiles?: string[];
  images: pulumi.Input<Record<string, pulumi.Input<string>>>;
  registry: pulumi.Input<RegistryAccess>;
  secrets: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /**
   * TLS certificates for the node proxy (cloud nodes): name → PEM bundle (certificate, chain,
   * private key). Sealed to the node like secrets; checked at preview.
   */
  certificates?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** Cloud nodes: Compose volume → the block device of its disk on the node. */
  disks?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  signingKey: pulumi.Input<string>;
  /** Backups of the environment's volumes (no secret values; those are in `secrets`). */
  backup?: EnvironmentBackupInput;
  /** The operators granted this environment and whether commands are on for its node. */
  access?: AccessPolicyInput;
  /** Publish the content of this earlier release again, as a new release (a rollback). */
  rollbackTo?: number;
  volumeRoot?: string;
  /** An environment on a node group: rendered for Swarm, published to the leading manager. */
  swarm?: pulumi.Input<{
    group: string;
    volumeNodes: Record<string, string>;
    /** Hex, secret: versions the swarm secrets' names. */
    versionKey: pulumi.Input<string>;
    encryptNetworks?: boolean;
    /** The proxy on every node: an HAProxy image (pinned at each release) and its port. */
    proxy?: { image: string; port: number };
  }>;
  timeoutSeconds: number;
  summary: pulumi.Input<ReleaseSummary>;
}

/**
 * One environment's release on one node: validated, pinned, rendered, sealed, signed, published;
 * `pulumi up` waits for the node to apply it and fails with the node's own error if it did not.
 */
export class Release extends RuntimeResource {
  declare readonly sequence: pulumi.Output<number>;
  declare readonly composeSha256: pulumi.Output<string>;
  declare readonly state: pulumi.Output<string>;
  /** What the last `pulumi up` or `pulumi refresh` saw of the node. */
  declare readonly observed: pulumi.Output<{ running: boolean; detail: string; lastSeen?: string }>;

  constructor(name: string, args: ReleaseArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      "release",
      name,
      {
        berthKind: "release",
        berthProviderVersion: RELEASE_PROVIDER_VERSION,
        ...args,
        secrets: pulumi.secret(args.secrets),
        certificates: pulumi.secret(args.certificates ?? {}),
        signingKey: pulumi.secret(args.signingKey),
        registry: pulumi.secret(args.registry),
        ...(args.swarm ? { swarm: pulumi.secret(args.swarm) } : {}),
        sequence: undefined,
        composeSha256: undefined,
        state: undefined,
        observed: undefined,
      },
      {
        ...opts,
        additionalSecretOutputs: ["secrets", "certificates", "signingKey", "registry", "channel", "swarm"],
      },
    );
  }
}
