import * as fs from "node:fs";
import * as path from "node:path";
import type * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import type { AccessPolicyInput } from "../../contract/access/schema";
import type { EnvironmentBackupInput } from "../../contract/backup/schema";
import type { ChannelSpec } from "../../contract/channel/access";
import { diskProjectFiles, loadCompose, readComposeSecretValues } from "../../contract/compose";
import { cloudflareSdk } from "../cloud-sdks";
import { buildHash, ImageBuild } from "../image-build/image-build";
import { Release } from "../release/release";
import { summarize } from "../release/summary";
import { ORIGIN_CERTIFICATE_NAME, OriginCertificate } from "../tls/origin-certificate";
import { buildOrder, type PlannedBuild, planBuilds } from "./builds";

export interface EnvironmentRegistry {
  /** Registry host, e.g. 127.0.0.1:5000 or registry.example.com. */
  host: string;
  /** Namespace inside it, e.g. `acme/prod`: images live under host/namespace/. */
  namespace: string;
  /** Pull credentials: sealed into each release for the node. */
  username: pulumi.Input<string>;
  password: pulumi.Input<string>;
  /** Push credentials for builds; default: the pull credentials. */
  push?: { username: pulumi.Input<string>; password: pulumi.Input<string> };
}

/** Proxied Cloudflare DNS records for the environment's route hosts. */
export interface EnvironmentDns {
  zoneId: pulumi.Input<string>;
  /** The node's public IPv4 address (the records' content). */
  ipv4: pulumi.Input<string>;
  /**
   * A node group: one proxied record per node for each route host (its nodes' IPv4s), so
   * Cloudflare keeps serving through the others when one node is lost. Replaces `ipv4`.
   */
  nodes?: readonly { nodeId: string; ipv4: pulumi.Input<string> }[];
  /** Which route hosts get a record; default: every host of x-berth-routes. */
  hosts?: readonly string[];
}

export interface DeploymentEnvironmentArgs {
  /** The environment id (lowercase letters, digits, dashes). */
  name: string;
  /** The Compose file, absolute or relative to the working folder. */
  composeFile: string;
  /**
   * Values for `${VAR}` in the Compose file: they win over the project folder's `.env` (the
   * process environment is never read).
   */
  variables?: Record<string, string>;
  /**
   * The active Compose profiles (`*`: all). Services with profiles run only when one is active;
   * without any, only services without profiles run, as with Compose.
   */
  profiles?: readonly string[];
  /**
   * The node's platform when it is not linux/amd64 (an Arm server: `linux/arm64`): the Compose
   * file's `platform:` and `build.platforms` must name it, and every build targets it.
   */
  platform?: string;
  /** Values of the secrets the Compose file references with x-berth-secret. */
  secrets?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /**
   * Issue a Cloudflare Origin CA certificate for every route host (certificate name
   * `cloudflare-origin`), so that Cloudflare's "Full (strict)" mode reaches the node over TLS.
   */
  originCertificate?: boolean;
  /** TLS certificates the node proxy serves for the routes: name → PEM bundle (secret). */
  certificates?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /**
   * The node: its id and its keys as the node resource took them (DeploymentNode's or LocalNode's
   * `publicKey` and `statusKey` outputs).
   */
  node: {
    nodeId: pulumi.Input<string>;
    publicKey: pulumi.Input<string>;
    statusKey: pulumi.Input<string>;
    volumeRoot?: string;
  };
  /** Cloud nodes: the block device of each volume on its own disk (Compose volume → device path). */
  disks?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  channel: pulumi.Input<ChannelSpec>;
  registry: EnvironmentRegistry;
  allowImagesOutsideNamespace?: boolean;
  /**
   * Backups of the environment's volumes to an S3 bucket with restic (schedule, retention, target;
   * per volume `x-berth-backup` in Compose). The repository password and bucket keys are secrets
   * named in `backup.secrets` (default backup-password, backup-access-key-id,
   * backup-secret-access-key), taken from `secrets` and sealed to the node like the others.
   */
  backup?: EnvironmentBackupInput;
  /**
   * Interactive access (berth logs, run, exec): the operators granted this environment (their
   * public keys and grants, from berth:operators) and whether commands are on for its node.
   */
  access?: AccessPolicyInput;
  /**
   * Roll back: publish the content of this earlier release (its rendered Compose file and
   * routes, from the channel) as a new release, sealed with the current secrets and signed anew.
   */
  rollbackTo?: number;
  signingKey: pulumi.Input<string>;
  /**
   * A node group (issue 23): the release is rendered for Swarm and goes to `node`, the group's
   * leading manager; `volumeNodes` names the node holding each Compose volume's disk, and
   * `versionKey` (hex, secret) versions the swarm secrets' names.
   */
  swarm?: {
    group: string;
    volumeNodes: Record<string, string>;
    versionKey: pulumi.Input<string>;
    encryptNetworks?: boolean;
    proxy?: { image: string; port: number };
  };
  releaseTimeoutSeconds?: number;
  /** A proxied DNS record (A, to the node) per route host. */
  dns?: EnvironmentDns;
  /** How a route's URL is written: local nodes serve http on a port of this machine. */
  urlFor: (route: { host: string; path?: string }) => string;
}

/** An app (a Compose file) placed on a node: its images built and pushed, its release applied. */
export class DeploymentEnvironment extends pulumi.ComponentResource {
  readonly urls: pulumi.Output<string[]>;
  readonly sequence: pulumi.Output<number>;
  readonly dnsRecords: cloudflare.DnsRecord[];

  constructor(name: string, args: DeploymentEnvironmentArgs, opts?: pulumi.ComponentResourceOptions) {
    super("berth:index:DeploymentEnvironment", name, {}, opts);
    const composeFile = path.resolve(args.composeFile);
    if (!fs.existsSync(composeFile)) {
      throw new pulumi.RunError(`environment ${args.name}: the Compose file ${composeFile} does not exist`);
    }
    const composeText = fs.readFileSync(composeFile, "utf8");
    const projectDir = path.dirname(composeFile);
    const variables = args.variables ?? {};
    const loaded = loadCompose(composeText, {
      file: path.relative(process.cwd(), composeFile),
      projectDir,
      variables,
      files: diskProjectFiles(projectDir),
      ...(args.profiles?.length ? { profiles: args.profiles } : {}),
      ...(args.platform ? { platform: args.platform } : {}),
    });
    const prefix = `${args.registry.host}/${args.registry.namespace.replace(/^\/+|\/+$/g, "")}`;

    const images: Record<string, pulumi.Output<string>> = {};
    const displayImages: Record<string, string> = {};
    if (loaded.ok) {
      const manifest = loaded.manifest;
      let ordered: PlannedBuild[];
      try {
        ordered = buildOrder(planBuilds(manifest, projectDir));
      } catch (e) {
        throw new pulumi.RunError(`environment ${args.name}: ${(e as Error).message}`);
      }
      for (const b of ordered) {
        const repository = `${prefix}/${args.name}-${b.name}`;
        // service:NAME → that service's image: built just before (buildOrder), or as written.
        const contexts = b.additionalContexts
          ? Object.fromEntries(
              Object.entries(b.additionalContexts).map(([k, v]) => {
                if (!v.startsWith("service:")) return [k, pulumi.output(v)];
                const other = v.slice(8);
                const image = images[other] ?? pulumi.output(manifest.services[other]?.image ?? "");
                return [k, pulumi.interpolate`docker-image://${image}`];
              }),
            )
          : undefined;
        const buildArgs = {
          context: b.context,
          ...(b.dockerfile ? { dockerfile: b.dockerfile } : {}),
          args: b.args,
          ...(b.target ? { target: b.target } : {}),
          ...(b.dockerfileInline ? { dockerfileInline: b.dockerfileInline } : {}),
          ...(b.labels ? { labels: b.labels } : {}),
          ...(contexts ? { additionalContexts: contexts } : {}),
          ...(b.platform || args.platform ? { platform: b.platform ?? args.platform } : {}),
        };
        const build = new ImageBuild(
          `${name}-${b.name}-image`,
          {
            ...buildArgs,
            repository,
            registryHost: args.registry.host,
            username: args.registry.push?.username ?? args.registry.username,
            password: args.registry.push?.password ?? args.registry.password,
          },
          { parent: this },
        );
        const tag = `${repository}:${buildHash({ ...buildArgs, ...(b.additionalContexts ? { additionalContexts: b.additionalContexts } : {}), repository, registryHost: "", username: "", password: "" }).slice(0, 16)}`;
        for (const s of b.services) {
          images[s] = build.pinned;
          displayImages[s] = tag;
        }
      }
    }
    // Compose secrets from the project (file:) or a variable (environment:): read now, and
    // handed on as secrets (encrypted in the state, sealed to the node in the release).
    const composeSecrets =
      loaded.ok && loaded.manifest.secrets
        ? pulumi.secret(readComposeSecretValues(loaded.manifest, projectDir, variables))
        : undefined;
    let certificates = args.certificates;
    if (args.originCertificate && loaded.ok) {
      const origin = new OriginCertificate(
        `${name}-origin`,
        { hostnames: loaded.manifest.routes.map((r) => r.host) },
        { parent: this },
      );
      certificates = pulumi
        .all([args.certificates ?? {}, origin.bundle])
        .apply(([given, bundle]) => ({ ...given, [ORIGIN_CERTIFICATE_NAME]: bundle }));
    }
    const release = new Release(
      `${name}-release`,
      {
        environmentId: args.name,
        nodeId: args.node.nodeId,
        nodeKeys: pulumi.output({ publicKey: args.node.publicKey, statusKey: args.node.statusKey }),
        channel: args.channel,
        composeFile: path.relative(process.cwd(), composeFile),
        composeText,
        projectDir,
        variables,
        ...(args.profiles?.length ? { profiles: [...args.profiles] } : {}),
        ...(args.platform ? { platform: args.platform } : {}),
        images,
        registry: pulumi.output({
          host: args.registry.host,
          prefix: args.registry.namespace,
          allowOutside: args.allowImagesOutsideNamespace ?? false,
          username: args.registry.username,
          password: args.registry.password,
        }),
        secrets: composeSecrets
          ? pulumi
              .all([args.secrets ?? {}, composeSecrets])
              .apply(([given, read]) => ({ ...(given as Record<string, string>), ...read }))
          : (args.secrets ?? {}),
        ...(certificates ? { certificates } : {}),
        ...(args.disks ? { disks: args.disks } : {}),
        signingKey: args.signingKey,
        ...(args.backup ? { backup: args.backup } : {}),
        ...(args.access ? { access: args.access } : {}),
        ...(args.rollbackTo ? { rollbackTo: args.rollbackTo } : {}),
        ...(args.node.volumeRoot ? { volumeRoot: args.node.volumeRoot } : {}),
        ...(args.swarm ? { swarm: args.swarm } : {}),
        timeoutSeconds: args.releaseTimeoutSeconds ?? 300,
        summary: loaded.ok
          ? summarize(loaded.manifest, displayImages)
          : { services: {}, volumes: [], routes: [] },
      },
      { parent: this },
    );
    this.dnsRecords =
      loaded.ok && args.dns ? dnsRecords(this, name, args.name, args.dns, loaded.manifest) : [];
    this.sequence = release.sequence;
    this.urls = pulumi.output(loaded.ok ? loaded.manifest.routes.map((r) => args.urlFor(r)) : []);
    this.registerOutputs({
      urls: this.urls,
      sequence: this.sequence,
      dnsRecords: this.dnsRecords.map((r) => r.id),
    });
  }
}

function dnsRecords(
  parent: pulumi.Resource,
  name: string,
  environmentId: string,
  dns: EnvironmentDns,
  manifest: { routes: { host: string }[] },
): cloudflare.DnsRecord[] {
  const routeHosts = [...new Set(manifest.routes.map((r) => r.host))];
  const hosts = dns.hosts ? [...new Set(dns.hosts)] : routeHosts;
  const unknown = hosts.filter((h) => !routeHosts.includes(h));
  if (unknown.length > 0) {
    throw new pulumi.RunError(
      `environment ${environmentId}: hosts: ${unknown.join(", ")} ${unknown.length === 1 ? "is" : "are"} not the host of any x-berth-routes entry (routes: ${routeHosts.join(", ") || "none"})`,
    );
  }
  const targets = dns.nodes
    ? dns.nodes.map((n) => ({ suffix: `-${n.nodeId}`, ipv4: n.ipv4 }))
    : [{ suffix: "", ipv4: dns.ipv4 }];
  return [...hosts].sort().flatMap((host) =>
    targets.map(
      (t) =>
        new (cloudflareSdk().DnsRecord)(
          `${name}-dns-${host}${t.suffix}`,
          {
            zoneId: dns.zoneId,
            name: host,
            type: "A",
            content: t.ipv4,
            // Cloudflare terminates TLS and forwards to the node's proxy; ttl 1 = automatic.
            proxied: true,
            ttl: 1,
            comment: `berth: environment ${environmentId}`,
          },
          { parent },
        ),
    ),
  );
}
