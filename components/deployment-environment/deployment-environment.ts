import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { loadCompose } from "../../contract/compose";
import { ImageBuild } from "../image-build/image-build";
import { Release } from "../release/release";
import { summarize } from "../release/summary";
import type { ChannelSpec } from "../runtime/channel";
import { contextHash } from "../runtime/context-hash";
import { planBuilds } from "./builds";

export interface EnvironmentRegistry {
  /** Registry host, e.g. 127.0.0.1:5000 or registry.example.com. */
  host: string;
  /** Namespace inside it, e.g. `acme/prod`: images live under host/namespace/. */
  namespace: string;
  username: pulumi.Input<string>;
  password: pulumi.Input<string>;
}

export interface DeploymentEnvironmentArgs {
  /** The environment id (lowercase letters, digits, dashes). */
  name: string;
  /** The Compose file, absolute or relative to the working folder. */
  composeFile: string;
  /** Values for `${VAR}` in the Compose file (never read from the process environment). */
  variables?: Record<string, string>;
  /** Values of the secrets the Compose file references with x-berth-secret. */
  secrets?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  node: { nodeId: pulumi.Input<string>; volumeRoot?: string };
  channel: pulumi.Input<ChannelSpec>;
  registry: EnvironmentRegistry;
  allowImagesOutsideNamespace?: boolean;
  signingKey: pulumi.Input<string>;
  releaseTimeoutSeconds?: number;
  /** How a route's URL is written: local nodes serve http on a port of this machine. */
  urlFor: (route: { host: string; path?: string }) => string;
}

/** An app (a Compose file) placed on a node: its images built and pushed, its release applied. */
export class DeploymentEnvironment extends pulumi.ComponentResource {
  readonly urls: pulumi.Output<string[]>;
  readonly sequence: pulumi.Output<number>;

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
    });
    const prefix = `${args.registry.host}/${args.registry.namespace.replace(/^\/+|\/+$/g, "")}`;

    const images: Record<string, pulumi.Output<string>> = {};
    const displayImages: Record<string, string> = {};
    if (loaded.ok) {
      for (const b of planBuilds(loaded.manifest, projectDir)) {
        const repository = `${prefix}/${args.name}-${b.name}`;
        const build = new ImageBuild(
          `${name}-${b.name}-image`,
          {
            context: b.context,
            ...(b.dockerfile ? { dockerfile: b.dockerfile } : {}),
            args: b.args,
            ...(b.target ? { target: b.target } : {}),
            repository,
            registryHost: args.registry.host,
            username: args.registry.username,
            password: args.registry.password,
          },
          { parent: this },
        );
        const tag = `${repository}:${contextHash(b.context, b.dockerfile).slice(0, 16)}`;
        for (const s of b.services) {
          images[s] = build.pinned;
          displayImages[s] = tag;
        }
      }
    }
    const release = new Release(
      `${name}-release`,
      {
        environmentId: args.name,
        nodeId: args.node.nodeId,
        channel: args.channel,
        composeFile: path.relative(process.cwd(), composeFile),
        composeText,
        projectDir,
        variables,
        images,
        registry: pulumi.output({
          host: args.registry.host,
          prefix: args.registry.namespace,
          allowOutside: args.allowImagesOutsideNamespace ?? false,
          username: args.registry.username,
          password: args.registry.password,
        }),
        secrets: args.secrets ?? {},
        signingKey: args.signingKey,
        ...(args.node.volumeRoot ? { volumeRoot: args.node.volumeRoot } : {}),
        timeoutSeconds: args.releaseTimeoutSeconds ?? 300,
        summary: loaded.ok
          ? summarize(loaded.manifest, displayImages)
          : { services: {}, volumes: [], routes: [] },
      },
      { parent: this },
    );
    this.sequence = release.sequence;
    this.urls = pulumi.output(loaded.ok ? loaded.manifest.routes.map((r) => args.urlFor(r)) : []);
    this.registerOutputs({ urls: this.urls, sequence: this.sequence });
  }
}
