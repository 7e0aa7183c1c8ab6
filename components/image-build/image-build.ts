import * as pulumi from "@pulumi/pulumi";
import { contextHash } from "../runtime/context-hash";
import { PROVIDER_RUNTIME } from "../runtime-path";

export const IMAGE_BUILD_PROVIDER_VERSION = "1";

const runtime = PROVIDER_RUNTIME;
const provider: pulumi.dynamic.ResourceProvider = {
  diff: (id, olds, news) => require(runtime).imageBuild.diff(id, olds, news),
  create: (news) => require(runtime).imageBuild.create(news),
  update: (id, olds, news) => require(runtime).imageBuild.update(id, olds, news),
};

export interface ImageBuildArgs {
  context: string;
  dockerfile?: string;
  args?: Record<string, string>;
  target?: string;
  /** `host/namespace/name` in the environment's registry namespace. */
  repository: pulumi.Input<string>;
  registryHost: pulumi.Input<string>;
  username: pulumi.Input<string>;
  password: pulumi.Input<string>;
}

/** A `build:` service's image, built with docker buildx and pushed into the registry namespace. */
export class ImageBuild extends pulumi.dynamic.Resource {
  /** `repository@sha256:…` */
  declare readonly pinned: pulumi.Output<string>;
  declare readonly digest: pulumi.Output<string>;

  constructor(name: string, args: ImageBuildArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      provider,
      name,
      {
        berthKind: "image-build",
        berthProviderVersion: IMAGE_BUILD_PROVIDER_VERSION,
        context: args.context,
        dockerfile: args.dockerfile,
        args: args.args ?? {},
        target: args.target,
        repository: args.repository,
        contextHash: contextHash(args.context, args.dockerfile),
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
