// Short-lived credentials for Cloudflare's managed container registry. @pulumi/cloudflare has no
// resource for it, so this dynamic provider mints them with
//   POST {baseUrl}/accounts/{account}/containers/registries/{host}/credentials
//   {"expiration_minutes": N, "permissions": ["pull", "push"]}
// The API token arrives as a secret input (from `pulumi config set --secret`), the password
// leaves as a secret output (additionalSecretOutputs). `diff` asks for new credentials when the
// inputs change or the stored ones are within `renewBeforeMinutes` of expiring, so a `pulumi up`
// after expiry mints fresh ones. Cloudflare offers no revoke call for them: `delete` forgets them
// and they lapse at their expiry.
import * as pulumi from "@pulumi/pulumi";

export const CLOUDFLARE_REGISTRY_PROVIDER_VERSION = "1";
export const CLOUDFLARE_API = "https://api.cloudflare.com/client/v4";
export const CLOUDFLARE_REGISTRY_HOST = "registry.cloudflare.com";

export interface CloudflareRegistryCredentialsInputs {
  accountId: string;
  registryHost: string;
  apiToken: string;
  permissions: ("pull" | "push")[];
  expirationMinutes: number;
  renewBeforeMinutes: number;
  baseUrl: string;
  berthKind: string;
  berthProviderVersion: string;
}

export interface CloudflareRegistryCredentialsOutputs extends CloudflareRegistryCredentialsInputs {
  username: string;
  password: string;
  expiresAt: string;
}

async function mintCredentials(
  inputs: CloudflareRegistryCredentialsInputs,
): Promise<CloudflareRegistryCredentialsOutputs> {
  const url = `${inputs.baseUrl.replace(/\/+$/, "")}/accounts/${encodeURIComponent(inputs.accountId)}/containers/registries/${encodeURIComponent(inputs.registryHost)}/credentials`;
  const startedAt = Date.now();
  const res = await fetch(url, {
    method: "POST",
    headers: { authorization: `Bearer ${inputs.apiToken}`, "content-type": "application/json" },
    body: JSON.stringify({ expiration_minutes: inputs.expirationMinutes, permissions: inputs.permissions }),
  });
  const text = await res.text();
  let body: { result?: Record<string, unknown>; errors?: { message?: string }[] } & Record<string, unknown> =
    {};
  try {
    body = JSON.parse(text);
  } catch {
    // reported below
  }
  if (!res.ok) {
    const why = body.errors?.map((e) => e.message).join("; ") || text.slice(0, 200);
    throw new Error(
      `Cloudflare registry credentials for ${inputs.registryHost} (account ${inputs.accountId}): HTTP ${res.status}: ${why}` +
        (res.status === 401 || res.status === 403
          ? " (does the API token have the Containers permission on this account?)"
          : ""),
    );
  }
  const r = (body.result ?? body) as { username?: unknown; password?: unknown };
  if (typeof r.username !== "string" || typeof r.password !== "string") {
    throw new Error(
      `Cloudflare registry credentials for ${inputs.registryHost}: the answer has no username/password`,
    );
  }
  return {
    ...inputs,
    username: r.username,
    password: r.password,
    expiresAt: new Date(startedAt + inputs.expirationMinutes * 60_000).toISOString(),
  };
}

export const cloudflareRegistryCredentialsProvider: pulumi.dynamic.ResourceProvider = {
  async check(_olds: CloudflareRegistryCredentialsInputs, news: CloudflareRegistryCredentialsInputs) {
    const failures: pulumi.dynamic.CheckFailure[] = [];
    if (!/^[0-9a-f]{32}$/.test(String(news.accountId)))
      failures.push({ property: "accountId", reason: "a Cloudflare account id (32 hex characters)" });
    if (
      !Array.isArray(news.permissions) ||
      news.permissions.length === 0 ||
      news.permissions.some((p) => p !== "pull" && p !== "push")
    )
      failures.push({ property: "permissions", reason: 'a non-empty list of "pull" and "push"' });
    if (
      !Number.isInteger(news.expirationMinutes) ||
      news.expirationMinutes < 5 ||
      news.expirationMinutes > 60 * 24 * 365
    )
      failures.push({ property: "expirationMinutes", reason: "whole minutes, at least 5" });
    if (typeof news.apiToken !== "string" || news.apiToken === "")
      failures.push({
        property: "apiToken",
        reason: "set it with `pulumi config set --secret cloudflare:apiToken`",
      });
    return { inputs: news, failures };
  },

  async diff(
    _id: string,
    olds: CloudflareRegistryCredentialsOutputs,
    news: CloudflareRegistryCredentialsInputs,
  ) {
    const keys = [
      "accountId",
      "registryHost",
      "apiToken",
      "expirationMinutes",
      "baseUrl",
      "berthProviderVersion",
    ] as const;
    const changed = keys.filter((k) => olds[k] !== news[k]);
    if ([...(olds.permissions ?? [])].sort().join() !== [...news.permissions].sort().join())
      changed.push("permissions" as never);
    const renewAt = Date.parse(olds.expiresAt ?? "") - news.renewBeforeMinutes * 60_000;
    const expiring = !(Date.now() < renewAt);
    return { changes: changed.length > 0 || expiring, replaces: [], deleteBeforeReplace: false };
  },

  async create(inputs: CloudflareRegistryCredentialsInputs) {
    const outs = await mintCredentials(inputs);
    return {
      id: `${inputs.accountId}/${inputs.registryHost}/${[...inputs.permissions].sort().join("+")}`,
      outs,
    };
  },

  async update(
    _id: string,
    _olds: CloudflareRegistryCredentialsOutputs,
    news: CloudflareRegistryCredentialsInputs,
  ) {
    return { outs: await mintCredentials(news) };
  },

  async delete() {
    // No revoke endpoint: the credentials lapse at their expiry.
  },
};

export interface CloudflareRegistryCredentialsArgs {
  accountId: pulumi.Input<string>;
  /** Secret: the Cloudflare API token (Containers: edit). */
  apiToken: pulumi.Input<string>;
  permissions: ("pull" | "push")[];
  /** Default 7 days. */
  expirationMinutes?: number;
  /** Mint new ones on `pulumi up` when fewer than this many minutes are left. Default 1 day. */
  renewBeforeMinutes?: number;
  registryHost?: string;
  /** The Cloudflare API's base URL (tests point it at a local server). */
  baseUrl?: string;
}

export class CloudflareRegistryCredentials extends pulumi.dynamic.Resource {
  declare readonly username: pulumi.Output<string>;
  declare readonly password: pulumi.Output<string>;
  declare readonly expiresAt: pulumi.Output<string>;
  declare readonly registryHost: pulumi.Output<string>;

  constructor(name: string, args: CloudflareRegistryCredentialsArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      cloudflareRegistryCredentialsProvider,
      name,
      {
        accountId: args.accountId,
        apiToken: pulumi.secret(args.apiToken),
        permissions: args.permissions,
        expirationMinutes: args.expirationMinutes ?? 7 * 24 * 60,
        renewBeforeMinutes: args.renewBeforeMinutes ?? 24 * 60,
        registryHost: args.registryHost ?? CLOUDFLARE_REGISTRY_HOST,
        baseUrl: args.baseUrl ?? CLOUDFLARE_API,
        berthKind: "cloudflare-registry-credentials",
        berthProviderVersion: CLOUDFLARE_REGISTRY_PROVIDER_VERSION,
        username: undefined,
        password: undefined,
        expiresAt: undefined,
      },
      { ...opts, additionalSecretOutputs: ["password", "apiToken"] },
    );
  }
}
