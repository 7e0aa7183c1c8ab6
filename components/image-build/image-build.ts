import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { contextHash } from "../../contract/build/context-hash";
import { RuntimeResource } from "../runtime-resource";

export const IMAGE_BUILD_PROVIDER_VERSION = "2";

export interface ImageBuildArgs {
  context: string;
  dockerfile?: string;
  args?: Record<string, string>;
  target?: string;
  /** Compose's dockerfile_inline: the Dockerfile's text. */
  dockerfileInline?: string;
  labels?: Record<string, string>;
  /** Named contexts: an absolute folder, or another service's image (`docker-image://REPO@sha256:…`). */
  additionalContexts?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** The node's platform (`linux/arm64`), when not the building machine's. */
  platform?: string;
  /** `host/namespace/name` in the environment's registry namespace. */
  repository: pulumi.Input<string>;
  registryHost: pulumi.Input<string>;
  username: pulumi.Input<string>;
  password: pulumi.Input<string>;
}

/** A `build:` service's image, built with docker buildx and pushed into the registry namespace. */
export class ImageBuild extends RuntimeResource {
  /** `repository@sha256:…` */
  declare readonly pinned: pulumi.Output<string>;
  declare readonly digest: pulumi.Output<string>;

  constructor(name: string, args: ImageBuildArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      "imageBuild",
      name,
      {
        berthKind: "image-build",
        berthProviderVersion: IMAGE_BUILD_PROVIDER_VERSION,
        context: args.context,
        dockerfile: args.dockerfile,
        args: args.args ?? {},
        target: args.target,
        dockerfileInline: args.dockerfileInline,
        labels: args.labels,
        additionalContexts: args.additionalContexts,
        platform: args.platform,
        repository: args.repository,
        contextHash: buildHash(args),
        registryHost: args.registryHost,
        username: args.username,
        password: pulumi.secret(args.password),
        digest: undefined,
        pinned: undefined,
      },
      { ...opts, additionalSecretOutputs: ["password"] },
    );
  }
}

/**
 * What a rebuild is decided on: the context's files, and those of every folder named as an
 * additional context (an image context changes with its digest, which is an input already).
 */
export function buildHash(args: ImageBuildArgs): string {
  const base = contextHash(args.context, args.dockerfile);
  const extra = args.additionalContexts;
  const folders =
    extra && !pulumi.Output.isInstance(extra)
      ? Object.entries(extra as Record<string, unknown>)
          .filter((e): e is [string, string] => typeof e[1] === "string" && e[1].startsWith("/"))
          .sort(([a], [b]) => a.localeCompare(b))
      : [];
  if (folders.length === 0) return base;
  const h = createHash("sha256").update(base);
  for (const [k, dir] of folders) h.update(`\n${k} ${contextHash(dir)}`);
  return h.digest("hex");
}
