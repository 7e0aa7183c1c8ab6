// What every target's wiring gets from stacks/index.ts, and what it gives back as stack outputs.
import type * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../config";
import type { ResolvedTrust } from "../trust-config";

export interface ProgramContext {
  stack: string;
  /** stacks/Pulumi.<stack>.yaml, for messages. */
  stackFile: string;
  config: StackConfig;
  /** The release-signing private key (secret). */
  signingKey: pulumi.Output<string>;
  /** The stack's enrollment key (secret; EnrollmentKey): nodes' enrollment secrets derive from it. */
  enrollmentKey: pulumi.Output<string>;
  /** Its public key: every node trusts it (from its user data, or from the trust set). */
  trustedKey: string;
  /** berth:trust, resolved: the signed trust set to publish, and its root key (secret). */
  trust?: ResolvedTrust & { rootKey: pulumi.Output<string> };
  /** Values of x-berth-secret references, by name (secret). */
  secrets: pulumi.Output<Record<string, string>>;
  /** TLS certificate bundles for cloud node proxies, by name (secret). */
  certificates: pulumi.Output<Record<string, string>>;
}

export interface ProgramOutputs {
  /** Local: `file://<folder>`; clouds: `s3:https://ENDPOINT/BUCKET[/PREFIX]` (berth's --channel form). */
  channelUrl: pulumi.Output<string>;
  /** Clouds: the channel bucket's region. */
  channelRegion?: pulumi.Output<string>;
  urls: pulumi.Output<string[]>;
  /** Per environment, the sequence of its current release. */
  releases: pulumi.Output<Record<string, number>>;
  /** local: the node agent's log. */
  nodeLog?: pulumi.Output<string>;
  /** cloud: per node id, its address and location. */
  nodes?: pulumi.Output<Record<string, { ipv4: string; location: string }>>;
}
