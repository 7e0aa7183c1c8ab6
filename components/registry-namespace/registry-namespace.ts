// Registry namespaces for cloud stacks: where an environment's images live, with pull
// credentials for nodes and push credentials for builds (both secret Outputs). Three kinds:
// - any OCI registry (GHCR, a self-hosted one...) with credentials from config secrets;
// - a Scaleway Container Registry namespace (a real registry.Namespace), with IAM applications
//   whose API keys log in (user "nologin"): read-only for pulls, full access for pushes;
// - Cloudflare's managed registry (registry.cloudflare.com/<account>), with short-lived
//   credentials minted by a dynamic provider.
import * as pulumi from "@pulumi/pulumi";
import type * as scaleway from "@pulumiverse/scaleway";
import { scalewaySdk } from "../cloud-sdks";
import { CLOUDFLARE_REGISTRY_HOST, CloudflareRegistryCredentials } from "./cloudflare-credentials-provider";

export interface RegistryCredentials {
  username: pulumi.Output<string>;
  /** Always a secret Output. */
  password: pulumi.Output<string>;
}

export interface RegistryNamespaceOutputs {
  /** e.g. ghcr.io, rg.fr-par.scw.cloud, registry.cloudflare.com */
  host: pulumi.Output<string>;
  /** host + path: images are <prefix>/<service>:<tag>. */
  prefix: pulumi.Output<string>;
  pull: RegistryCredentials;
  push: RegistryCredentials;
}

const secretCreds = (
  username: pulumi.Input<string>,
  password: pulumi.Input<string>,
): RegistryCredentials => ({
  username: pulumi.output(username),
  password: pulumi.secret(password),
});

export class RegistryArgsError extends Error {}

export interface OciRegistryArgs {
  host: string;
  /** Path under the host, e.g. acme/apps. */
  namespace: string;
  pull: { username: pulumi.Input<string>; password: pulumi.Input<string> };
  /** Defaults to the pull credentials. */
  push?: { username: pulumi.Input<string>; password: pulumi.Input<string> };
}

export function ociRegistryNamespace(args: OciRegistryArgs): RegistryNamespaceOutputs {
  if (!/^[a-z0-9.-]+(:\d+)?$/.test(args.host))
    throw new RegistryArgsError(`host: ${JSON.stringify(args.host)} is not a registry host like ghcr.io`);
  if (!/^[a-z0-9]+([._/-][a-z0-9]+)*$/.test(args.namespace))
    throw new RegistryArgsError(
      `namespace: ${JSON.stringify(args.namespace)} is not a lowercase registry path like acme/apps`,
    );
  const push = args.push ?? args.pull;
  return {
    host: pulumi.output(args.host),
    prefix: pulumi.output(`${args.host}/${args.namespace}`),
    pull: secretCreds(args.pull.username, args.pull.password),
    push: secretCreds(push.username, push.password),
  };
}

export interface ScalewayRegistryArgs {
  /** The namespace's name (globally unique at Scaleway): lowercase letters, digits, dashes. */
  name: string;
  region: "fr-par" | "nl-ams" | "pl-waw";
  projectId: pulumi.Input<string>;
}

export function createScalewayRegistryNamespace(
  name: string,
  args: ScalewayRegistryArgs,
  parent?: pulumi.Resource,
): RegistryNamespaceOutputs & { namespace: scaleway.registry.Namespace } {
  if (!/^[a-z0-9][a-z0-9-]{2,53}$/.test(args.name))
    throw new RegistryArgsError(
      `name: ${JSON.stringify(args.name)}: use 3-54 lowercase letters, digits and dashes`,
    );
  const namespace = new (scalewaySdk().registry.Namespace)(
    `${name}-namespace`,
    { name: args.name, region: args.region, isPublic: false, projectId: args.projectId },
    { parent },
  );
  const principal = (kind: "pull" | "push", permissionSet: string) => {
    const app = new (scalewaySdk().iam.Application)(
      `${name}-${kind}-app`,
      { name: `berth-registry-${args.name}-${kind}`, description: `berth: ${kind} ${args.name}` },
      { parent },
    );
    new (scalewaySdk().iam.Policy)(
      `${name}-${kind}-policy`,
      {
        name: `berth-registry-${args.name}-${kind}`,
        applicationId: app.id,
        rules: [{ projectIds: [args.projectId], permissionSetNames: [permissionSet] }],
      },
      { parent },
    );
    const key = new (scalewaySdk().iam.ApiKey)(
      `${name}-${kind}-key`,
      { applicationId: app.id, description: `berth registry ${kind}`, defaultProjectId: args.projectId },
      { parent, additionalSecretOutputs: ["secretKey"] },
    );
    // Scaleway's registry takes any user name and an IAM secret key as the password.
    return secretCreds("nologin", key.secretKey);
  };
  const host = `rg.${args.region}.scw.cloud`;
  return {
    namespace,
    host: pulumi.output(host),
    prefix: namespace.endpoint,
    // Scoped to the project: Scaleway's IAM has no per-namespace permission sets.
    pull: principal("pull", "ContainerRegistryReadOnly"),
    push: principal("push", "ContainerRegistryFullAccess"),
  };
}

export interface CloudflareRegistryArgs {
  accountId: pulumi.Input<string>;
  /** Secret Output from config. */
  apiToken: pulumi.Input<string>;
  /** Path under registry.cloudflare.com/<account>/, e.g. apps. */
  namespace: string;
  pullExpirationMinutes?: number;
  pushExpirationMinutes?: number;
  baseUrl?: string;
}

export function createCloudflareRegistryNamespace(
  name: string,
  args: CloudflareRegistryArgs,
  parent?: pulumi.Resource,
): RegistryNamespaceOutputs & {
  pullCredentials: CloudflareRegistryCredentials;
  pushCredentials: CloudflareRegistryCredentials;
} {
  const common = {
    accountId: args.accountId,
    apiToken: args.apiToken,
    ...(args.baseUrl ? { baseUrl: args.baseUrl } : {}),
  };
  const pullCredentials = new CloudflareRegistryCredentials(
    `${name}-pull`,
    { ...common, permissions: ["pull"], expirationMinutes: args.pullExpirationMinutes ?? 7 * 24 * 60 },
    { parent },
  );
  const pushCredentials = new CloudflareRegistryCredentials(
    `${name}-push`,
    { ...common, permissions: ["pull", "push"], expirationMinutes: args.pushExpirationMinutes ?? 24 * 60 },
    { parent },
  );
  return {
    pullCredentials,
    pushCredentials,
    host: pulumi.output(CLOUDFLARE_REGISTRY_HOST),
    prefix: pulumi.interpolate`${CLOUDFLARE_REGISTRY_HOST}/${args.accountId}/${args.namespace}`,
    pull: secretCreds(pullCredentials.username, pullCredentials.password),
    push: secretCreds(pushCredentials.username, pushCredentials.password),
  };
}

export type RegistryNamespaceArgs =
  | ({ kind: "oci" } & OciRegistryArgs)
  /** The local registry (setup's): its host and credentials are passed in. */
  | ({ kind: "local" } & OciRegistryArgs)
  | ({ kind: "scaleway" } & ScalewayRegistryArgs)
  | ({ kind: "cloudflare" } & Omit<CloudflareRegistryArgs, "accountId"> & { accountId: string });

/**
 * Where an environment's images live. Outputs: the registry host, the namespace path and prefix,
 * pull credentials for nodes and push credentials for builds (passwords are secret Outputs).
 */
export class RegistryNamespace extends pulumi.ComponentResource {
  readonly kind: RegistryNamespaceArgs["kind"];
  /** Known at construction, for image names: e.g. ghcr.io, rg.fr-par.scw.cloud. */
  readonly hostName: string;
  /** The path under the host, known at construction: acme/apps, <name>, <account>/<namespace>. */
  readonly path: string;
  readonly host: pulumi.Output<string>;
  readonly namespace: pulumi.Output<string>;
  /** host/path: images are <prefix>/<service>. */
  readonly prefix: pulumi.Output<string>;
  readonly pull: RegistryCredentials;
  readonly push: RegistryCredentials;

  constructor(name: string, args: RegistryNamespaceArgs, opts?: pulumi.ComponentResourceOptions) {
    super("berth:index:RegistryNamespace", name, {}, opts);
    this.kind = args.kind;
    let out: RegistryNamespaceOutputs;
    if (args.kind === "oci" || args.kind === "local") {
      const { kind: _k, ...a } = args;
      out = ociRegistryNamespace(a);
      this.hostName = a.host;
      this.path = a.namespace;
    } else if (args.kind === "scaleway") {
      const { kind: _k, ...a } = args;
      out = createScalewayRegistryNamespace(name, a, this);
      this.hostName = `rg.${a.region}.scw.cloud`;
      this.path = a.name;
    } else {
      const { kind: _k, ...a } = args;
      if (!/^[0-9a-f]{32}$/.test(a.accountId))
        throw new RegistryArgsError(`accountId: a Cloudflare account id is 32 hex characters`);
      if (!/^[a-z0-9]+([._/-][a-z0-9]+)*$/.test(a.namespace))
        throw new RegistryArgsError(
          `namespace: ${JSON.stringify(a.namespace)} is not a lowercase registry path like acme/apps`,
        );
      out = createCloudflareRegistryNamespace(name, a, this);
      this.hostName = CLOUDFLARE_REGISTRY_HOST;
      this.path = `${a.accountId}/${a.namespace}`;
    }
    this.host = out.host;
    this.namespace = pulumi.output(this.path);
    this.prefix = out.prefix;
    this.pull = out.pull;
    this.push = out.push;
    this.registerOutputs({
      host: this.host,
      namespace: this.namespace,
      prefix: this.prefix,
      pullUsername: this.pull.username,
      pullPassword: this.pull.password,
      pushUsername: this.push.username,
      pushPassword: this.push.password,
    });
  }
}
